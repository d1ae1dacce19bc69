"""drop.runtime.breaker: after a few Redis failures in a row, Redis is skipped for a while.

Against real sockets: a hung server (accepts, never answers), a closed port, the real Redis.
"""

from __future__ import annotations

import dataclasses
import re

import falcon.testing
import pytest
import redis

from drop.app import create_app
from drop.db.models import db
from drop.runtime.breaker import (
    FAILURES_TO_OPEN,
    CircuitBreaker,
    RedisSkipped,
    guarded_pool,
    quick_ping,
)
from tests.conftest import REDIS_URL
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, session_of
from tests.support.common import free_port
from tests.support.redis_server import HungRedis


class Seconds:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hung():
    with HungRedis() as server:
        yield server


def guarded_client(url: str, breaker: CircuitBreaker) -> redis.Redis:
    return redis.Redis(connection_pool=guarded_pool(url, breaker))


def fail_until_open(client: redis.Redis, breaker: CircuitBreaker) -> None:
    for _ in range(FAILURES_TO_OPEN):
        assert not breaker.is_open
        with pytest.raises(redis.RedisError) as failure:
            client.get("key")
        assert not isinstance(failure.value, RedisSkipped)
    assert breaker.is_open


def test_a_hung_redis_is_skipped_without_a_socket_once_open(hung):
    breaker = CircuitBreaker(open_seconds=60)
    client = guarded_client(hung.url, breaker)
    fail_until_open(client, breaker)
    touched = hung.touches()
    for call in (
        lambda: client.get("key"),
        client.ping,
        lambda: client.pipeline().incr("k").execute(),
    ):
        with pytest.raises(RedisSkipped):
            call()
    assert hung.touches() == touched


def test_a_refused_connection_counts_as_a_failure_too():
    breaker = CircuitBreaker(open_seconds=60)
    fail_until_open(guarded_client(f"redis://127.0.0.1:{free_port()}/0", breaker), breaker)


def test_after_the_open_time_one_trial_goes_through_and_a_failure_reopens(hung):
    clock = Seconds()
    breaker = CircuitBreaker(open_seconds=5, clock=clock)
    client = guarded_client(hung.url, breaker)
    fail_until_open(client, breaker)
    clock.now += 5
    assert not breaker.is_open
    connections, _ = hung.touches()
    with pytest.raises(redis.TimeoutError):
        client.get("key")
    assert hung.touches()[0] == connections + 1
    assert breaker.is_open  # at once: no second run of failures


def test_with_a_probe_the_trial_is_a_quick_ping_and_the_call_is_skipped(hung):
    clock = Seconds()
    breaker = CircuitBreaker(open_seconds=5, clock=clock, probe=quick_ping(hung.url))
    client = guarded_client(hung.url, breaker)
    fail_until_open(client, breaker)
    clock.now += 5
    connections, sent = hung.touches()
    with pytest.raises(RedisSkipped, match="still failing"):
        client.get("key")
    after = hung.touches()
    assert after[0] == connections + 1  # the probe's own connection, nothing else
    assert after[1] > sent
    assert breaker.is_open


def test_a_probe_that_gets_an_answer_lets_the_call_through(redis_client):
    clock = Seconds()
    breaker = CircuitBreaker(open_seconds=5, clock=clock, probe=quick_ping(REDIS_URL))
    for _ in range(FAILURES_TO_OPEN):
        breaker.failed(redis.ConnectionError("refused"))
    clock.now += 5
    client = guarded_client(REDIS_URL, breaker)
    client.set("key", "value")
    assert client.get("key") == b"value"
    assert not breaker.is_open


def test_an_answer_closes_the_breaker(redis_client):
    clock = Seconds()
    breaker = CircuitBreaker(open_seconds=5, clock=clock)
    for _ in range(FAILURES_TO_OPEN):
        breaker.failed(redis.ConnectionError("refused"))
    assert breaker.is_open
    clock.now += 5
    client = guarded_client(REDIS_URL, breaker)
    assert client.ping()
    breaker.failed(redis.ConnectionError("one more"))
    assert not breaker.is_open  # the count started again from the answer


def test_an_error_reply_is_an_answer_not_a_failure(redis_client):
    breaker = CircuitBreaker(open_seconds=60)
    client = guarded_client(REDIS_URL, breaker)
    client.set("text", "not a hash")
    for _ in range(FAILURES_TO_OPEN + 1):
        with pytest.raises(redis.ResponseError):
            client.hget("text", "field")
    assert not breaker.is_open


@pytest.mark.parametrize("backend", ["postgres"])
def test_readyz_names_redis_at_once_while_the_breaker_is_open(config, clock, hung):
    app = create_app(dataclasses.replace(config, redis_url=hung.url), clock=clock)
    client = falcon.testing.TestClient(app)
    for _ in range(FAILURES_TO_OPEN):
        client.simulate_get("/readyz")
    touched = hung.touches()
    answer = client.simulate_get("/readyz")
    assert answer.status_code == 503
    assert answer.json["failed"] == ["redis"]
    assert hung.touches() == touched
    db.close()


@pytest.mark.parametrize("backend", ["postgres"])
def test_dashboard_answers_without_redis_and_purge_is_a_retryable_503(config, clock, hung):
    ops_config = dataclasses.replace(config, redis_url=hung.url, admin_token=ADMIN_TOKEN)
    client = falcon.testing.TestClient(create_app(ops_config, clock=clock))
    cookies, csrf = session_of(client)
    for _ in range(FAILURES_TO_OPEN):  # the queue length on the cards opens the breaker
        assert client.simulate_get("/ops/stats", cookies=cookies).status_code == 200
    touched = hung.touches()
    assert touched[0] <= FAILURES_TO_OPEN
    assert client.simulate_get("/ops/stats", cookies=cookies).status_code == 200
    purge = client.simulate_post("/ops/purge", cookies=cookies, headers={"X-CSRF-Token": csrf})
    assert purge.status_code == 503
    assert re.search(r"try again", purge.text)
    assert hung.touches() == touched
    db.close()
