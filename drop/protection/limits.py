"""Limits on password guessing and upload floods, counted where every worker process sees them.

Two kinds of counter, kept in Redis when it is configured (one Lua script per change, so
each is atomic; only commands Redis 6 knows) and in the database's `rate_counter` table
otherwise (one `INSERT … ON CONFLICT DO UPDATE … RETURNING` per change):

- an **attempt counter** (`GuessLimit`): a few free attempts, then a lock that doubles
  with every further attempt up to a cap. An attempt is *reserved* before the expensive
  check runs and given back when it turns out right, so no number of parallel requests
  gets more wrong guesses checked than the limit allows, and a locked-out guess never
  reaches scrypt.
- a **window counter** (`UploadQuota`): how many uploads and bytes one client address
  stored in the current hour.

Times are epoch milliseconds taken from the app's clock, so tests can move them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

import peewee

from drop.clock import epoch_ms
from drop.config import Config
from drop.db.models import db
from drop.protection.counters import (
    Attempt,
    Backoff,
    Counters,
    DatabaseCounters,
    RedisCounters,
    WindowCount,
    forget_expired,
    open_counters,
)
from drop.wording import file_size, plural

# The counters' names callers know from here (drop.protection.counters keeps them).
__all__ = [
    "Attempt",
    "Backoff",
    "Counters",
    "DatabaseCounters",
    "RedisCounters",
    "WindowCount",
    "forget_expired",
    "open_counters",
]

log = logging.getLogger(__name__)

HOUR_SECONDS = 60 * 60
# Wrong passwords are remembered this long after the last attempt, so waiting out a
# lock does not start the count afresh.
GUESSES_KEPT_SECONDS = 24 * HOUR_SECONDS
# The dashboard login: at most this many failures per address in any such window.
LOGIN_FAILURES = 5
LOGIN_WINDOW_SECONDS = 5 * 60


class TooManyAttempts(Exception):
    """Refused before the check ran; come back in `retry_after` seconds."""

    def __init__(self, retry_after: int, reason: str):
        super().__init__(reason)
        self.retry_after = retry_after
        self.reason = reason


class GuessLimit:
    """Runs an expensive secret check only while none of its keys is locked out."""

    def __init__(self, counters: Counters, backoff: Backoff, clock: Callable):
        self._counters = counters
        self._backoff = backoff
        self._clock = clock

    def check(self, keys: Iterable[str], is_right: Callable[[], bool]) -> bool:
        """`is_right()` if every key grants an attempt; raises TooManyAttempts otherwise.

        A wrong answer keeps its attempt counted on every key; a right one gives them back.
        """
        now = epoch_ms(self._clock())
        held: list[tuple[str, Attempt]] = []
        try:
            for key in keys:
                attempt = self._counters.reserve_attempt(key, now, self._backoff)
                if not attempt.granted:
                    raise TooManyAttempts(
                        _seconds_until(attempt.locked_until, now), "too many wrong attempts"
                    )
                held.append((key, attempt))
            right = is_right()
        except BaseException:
            self._give_back(held)
            raise
        if right:
            self._give_back(held)
        return right

    def _give_back(self, held: list[tuple[str, Attempt]]) -> None:
        for key, attempt in held:
            self._counters.release_attempt(key, attempt.locked_until)


class UploadQuota:
    """Uploads and stored bytes per client address per hour (a limit of 0 is no limit)."""

    def __init__(
        self,
        counters: Counters,
        uploads_per_hour: int,
        bytes_per_hour: int,
        clock: Callable,
        *,
        subject: str = "this address",
    ):
        self._counters = counters
        self._uploads = uploads_per_hour
        self._bytes = bytes_per_hour
        self._clock = clock
        self._subject = subject  # who the refusal names: an address, or an API token

    def admit(self, client: str) -> None:
        """Take one of the client's uploads for this hour, or raise TooManyAttempts."""
        now = epoch_ms(self._clock())
        bytes_key, uploads_key = f"upload-bytes:{client}", f"uploads:{client}"
        stored = count = None
        if self._bytes and self._uploads:
            # Both in one change: one round trip to Redis on every upload, not two.
            stored, count = self._counters.add_unless_full(
                (bytes_key, self._bytes), uploads_key, 1, self._uploads, now, HOUR_SECONDS
            )
        elif self._bytes:
            stored = self._counters.add_to_window(bytes_key, 0, self._bytes, now, HOUR_SECONDS)
        elif self._uploads:
            count = self._counters.add_to_window(uploads_key, 1, self._uploads, now, HOUR_SECONDS)
        if stored is not None and not stored.allowed:
            raise TooManyAttempts(
                _seconds_until(stored.resets_at, now),
                f"{self._subject} stored {file_size(self._bytes)} this hour, the most allowed",
            )
        if count is not None and not count.allowed:
            uploads = plural(self._uploads, "upload")
            raise TooManyAttempts(
                _seconds_until(count.resets_at, now),
                f"{self._subject} made {uploads} this hour, the most allowed",
            )

    def give_back(self, client: str) -> None:
        """The admitted upload stored nothing (it was refused or failed)."""
        if self._uploads:
            self._counters.add_to_window(
                f"uploads:{client}", -1, 0, epoch_ms(self._clock()), HOUR_SECONDS
            )

    @property
    def counted_with_rows(self) -> bool:
        """Whether `stored` should run in the transaction of the upload's row: on SQLite,
        where the counters are then rows beside it, that saves a commit (and its fsync)
        per upload. On PostgreSQL the row is one statement committed on its own, fewer
        round trips than a transaction around both; in Redis it cannot be."""
        return isinstance(self._counters, DatabaseCounters) and isinstance(
            db.obj, peewee.SqliteDatabase
        )

    def stored(self, client: str, size: int) -> None:
        """The admitted upload stored `size` bytes."""
        if self._bytes:
            self._counters.add_to_window(
                f"upload-bytes:{client}", size, 0, epoch_ms(self._clock()), HOUR_SECONDS
            )


class HourlyLimit:
    """At most `per_hour` of one kind of request per client address per hour (abuse reports)."""

    def __init__(self, counters: Counters, noun: str, per_hour: int, clock: Callable):
        self._counters = counters
        self._noun = noun  # names the counter and the refusal: "report"
        self._per_hour = per_hour
        self._clock = clock

    def admit(self, client: str) -> None:
        """Count one request, or raise TooManyAttempts when the hour's are used up."""
        now = epoch_ms(self._clock())
        count = self._counters.add_to_window(
            f"{self._noun}s:{client}", 1, self._per_hour, now, HOUR_SECONDS
        )
        if not count.allowed:
            raise TooManyAttempts(
                _seconds_until(count.resets_at, now),
                f"this address sent {plural(self._per_hour, self._noun)} this hour",
            )


def login_limit(counters: Counters, clock: Callable) -> GuessLimit:
    """At most LOGIN_FAILURES failed dashboard logins per address per LOGIN_WINDOW_SECONDS."""
    window = LOGIN_WINDOW_SECONDS
    return GuessLimit(counters, Backoff(LOGIN_FAILURES, window, window, window), clock)


def password_backoff(config: Config) -> Backoff:
    """The drop passwords' backoff, from DROP_PASSWORD_ATTEMPTS and _BACKOFF_BASE / _CAP."""
    return Backoff(
        config.password_attempts,
        config.password_backoff_base,
        config.password_backoff_cap,
        GUESSES_KEPT_SECONDS,
    )


def _seconds_until(moment_ms: int, now_ms: int) -> int:
    return max(math.ceil((moment_ms - now_ms) / 1000), 1)
