"""A circuit breaker for Redis: after a few failures in a row, skip Redis for a while.

A hung Redis (one that accepts connections and never answers) would otherwise cost
every request a socket timeout per call. The breaker sits under every connection of the
web app's Redis pool, so the 4XX cache, the queue, /readyz and the dashboard share it
without code of their own: while it is open, every Redis call raises `RedisSkipped`
(a `redis.ConnectionError`, which each of them already handles) without touching a socket.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

FAILURES_TO_OPEN = 3
# Redis on the same machine or network answers in about a millisecond; a quarter of a
# second is a generous wait for a slow answer and a short one for a hung server.
SOCKET_TIMEOUT_SECONDS = 0.25
# While the breaker is open, a request pays at most this for a PING that asks whether
# Redis is back, once per open period.
TRIAL_TIMEOUT_SECONDS = 0.05
NO_RETRY = Retry(NoBackoff(), 0)  # after a failure, the breaker decides when to try again


class RedisSkipped(redis.ConnectionError):
    """Raised instead of calling Redis while the breaker is open."""


class CircuitBreaker:
    """Counts Redis failures in a row; at `failures_to_open` it opens for `open_seconds`.

    Once the time is up, the next call first runs `probe` (a quick PING) as a trial, or is
    the trial itself without one: an answer closes the breaker, a failure opens it again.
    """

    def __init__(
        self,
        open_seconds: float,
        failures_to_open: int = FAILURES_TO_OPEN,
        clock: Callable[[], float] = time.monotonic,
        probe: Callable[[], object] | None = None,
    ):
        self.open_seconds = open_seconds
        self.failures_to_open = failures_to_open
        self._clock = clock
        self._probe = probe
        self._lock = threading.Lock()
        self._trial = threading.Lock()
        self._failures = 0
        self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return self._failures >= self.failures_to_open and self._clock() < self._open_until

    def before_call(self) -> None:
        """Raise RedisSkipped while the breaker is open, or when its trial fails."""
        if self._failures < self.failures_to_open:
            return
        if self.is_open:
            raise RedisSkipped(
                f"Redis skipped for {self._open_until - self._clock():.1f}s more "
                f"after {self._failures} failures in a row"
            )
        if self._probe is None:
            return
        # One caller at a time runs the trial; the others skip Redis meanwhile.
        if not self._trial.acquire(blocking=False):
            raise RedisSkipped("Redis skipped while another call checks whether it is back")
        try:
            self._probe()
        except redis.RedisError as error:
            self.failed(error)
            raise RedisSkipped(f"Redis still failing: {error}") from None
        finally:
            self._trial.release()
        self.succeeded()

    def failed(self, error: Exception) -> None:
        with self._lock:
            self._failures += 1
            if self._failures < self.failures_to_open:
                return
            self._open_until = self._clock() + self.open_seconds
            first = self._failures == self.failures_to_open
        if first:
            log.warning(
                "Redis failed %d times in a row (%s): skipping it for %gs at a time",
                self.failures_to_open,
                error,
                self.open_seconds,
            )

    def succeeded(self) -> None:
        if self._failures == 0:
            return
        with self._lock:
            was_open, self._failures = self._failures >= self.failures_to_open, 0
        if was_open:
            log.warning("Redis answers again")


class _GuardedConnection:
    """Mixed into a redis-py connection class: every socket use goes through the breaker.

    Only the outermost call counts (connecting runs a handshake of its own commands), and
    only an answer read back counts as success: a hung server accepts what is sent.
    """

    def __init__(self, *args, breaker: CircuitBreaker, **kwargs):
        self._breaker = breaker
        self._guard_depth = 0
        super().__init__(*args, **kwargs)

    def connect(self):
        return self._guarded(super().connect, (), {}, answered=True)

    def connect_check_health(self, *args, **kwargs):
        return self._guarded(super().connect_check_health, args, kwargs, answered=True)

    def send_packed_command(self, *args, **kwargs):
        return self._guarded(super().send_packed_command, args, kwargs, answered=False)

    def read_response(self, *args, **kwargs):
        return self._guarded(super().read_response, args, kwargs, answered=True)

    def _guarded(self, call, args, kwargs, answered: bool):
        if self._guard_depth:
            return call(*args, **kwargs)
        self._breaker.before_call()
        self._guard_depth += 1
        try:
            result = call(*args, **kwargs)
        except redis.ResponseError:
            self._breaker.succeeded()  # an error reply is still an answer
            raise
        except (redis.ConnectionError, redis.TimeoutError) as error:
            self._breaker.failed(error)
            raise
        finally:
            self._guard_depth -= 1
        if answered:
            self._breaker.succeeded()
        return result


def guarded_pool(
    url: str, breaker: CircuitBreaker, timeout: float = SOCKET_TIMEOUT_SECONDS
) -> redis.ConnectionPool:
    """A connection pool for `url` whose connections time out fast and obey `breaker`."""
    options = redis.connection.parse_url(url)
    base = options.pop("connection_class", redis.Connection)
    guarded = type(f"Guarded{base.__name__}", (_GuardedConnection, base), {})
    return redis.ConnectionPool(
        connection_class=guarded,
        breaker=breaker,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=NO_RETRY,
        **options,
    )


def quick_ping(url: str) -> Callable[[], object]:
    """A PING of `url` that waits at most TRIAL_TIMEOUT_SECONDS per step: the breaker's trial."""
    options = redis.connection.parse_url(url)
    pool = redis.ConnectionPool(
        socket_timeout=TRIAL_TIMEOUT_SECONDS,
        socket_connect_timeout=TRIAL_TIMEOUT_SECONDS,
        retry=NO_RETRY,
        **options,
    )
    return redis.Redis(connection_pool=pool).ping


def redis_breaker(url: str, open_seconds: float) -> CircuitBreaker:
    """The breaker for the Redis at `url`, trying it again with a quick PING."""
    return CircuitBreaker(open_seconds, probe=quick_ping(url))
