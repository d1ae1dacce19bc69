"""drop/protection/limits.py's counters, on every store: SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from drop import tasks
from drop.clock import epoch_ms, utcnow
from drop.config import Config, ConfigError
from drop.db.models import db, init_database
from drop.protection import limits
from drop.protection.limits import Backoff, DatabaseCounters, RedisCounters
from tests.conftest import REDIS_URL
from tests.support.common import free_port
from tests.support.redis_server import OwnRedis

NOW = 1_764_000_000_000  # epoch ms
BACKOFF = Backoff(free_attempts=3, base_seconds=1, cap_seconds=4, forget_seconds=60)
# (the database the config fixture migrates, whether the counters live in Redis)
STORES = {"sqlite": ("sqlite", False), "postgres": ("postgres", False), "redis": ("postgres", True)}
PARALLEL = 16


@pytest.fixture(params=list(STORES))
def store(request) -> str:
    return request.param


@pytest.fixture
def backend(store) -> str:
    return STORES[store][0]


@pytest.fixture
def counters(store, config):
    init_database(config.effective_database_url)
    yield RedisCounters(redis.Redis.from_url(REDIS_URL)) if STORES[store][1] else DatabaseCounters()
    if not db.is_closed():
        db.close()


def reserve(counters, now=NOW, key="k", backoff=BACKOFF):
    return counters.reserve_attempt(key, now, backoff)


def test_free_attempts_then_a_lock_that_doubles_up_to_the_cap(counters):
    assert reserve(counters) == limits.Attempt(True, 0)
    assert reserve(counters) == limits.Attempt(True, 0)
    assert reserve(counters) == limits.Attempt(True, NOW + 1000)
    assert reserve(counters, NOW + 999) == limits.Attempt(False, NOW + 1000)
    assert reserve(counters, NOW + 1000) == limits.Attempt(True, NOW + 3000)
    assert reserve(counters, NOW + 3000) == limits.Attempt(True, NOW + 7000)
    assert reserve(counters, NOW + 7000) == limits.Attempt(True, NOW + 11000)  # the cap


def test_keys_are_counted_apart(counters):
    for _ in range(3):
        reserve(counters, key="one")
    assert not reserve(counters, key="one").granted
    assert reserve(counters, key="two").granted


def test_a_released_attempt_gives_back_its_count_and_lifts_its_lock(counters):
    reserve(counters)
    reserve(counters)
    third = reserve(counters)
    counters.release_attempt("k", third.locked_until)
    assert reserve(counters) == limits.Attempt(True, NOW + 1000)


def test_releasing_a_free_attempt_leaves_another_attempts_lock(counters):
    first = reserve(counters)
    reserve(counters)
    third = reserve(counters)
    counters.release_attempt("k", first.locked_until)
    assert reserve(counters, NOW + 1) == limits.Attempt(False, third.locked_until)


def test_attempts_are_forgotten_a_quiet_period_after_the_lock(counters):
    for _ in range(3):
        reserve(counters)
    later = NOW + 1000 + 60_000
    assert reserve(counters, later) == limits.Attempt(True, 0)


def test_parallel_attempts_get_no_more_than_the_free_ones(counters):
    start = threading.Barrier(PARALLEL)

    def attempt(_):
        start.wait()
        try:
            return reserve(counters).granted
        finally:
            db.close()

    with ThreadPoolExecutor(PARALLEL) as pool:
        granted = list(pool.map(attempt, range(PARALLEL)))
    assert granted.count(True) == BACKOFF.free_attempts


def test_a_window_refuses_at_its_limit_until_it_resets(counters):
    assert counters.add_to_window("w", 1, 2, NOW, 60) == limits.WindowCount(True, 1, NOW + 60_000)
    assert counters.add_to_window("w", 1, 2, NOW + 10, 60).allowed
    assert counters.add_to_window("w", 1, 2, NOW + 20, 60) == limits.WindowCount(
        False, 2, NOW + 60_000
    )
    assert not counters.add_to_window("w", 0, 2, NOW + 20, 60).allowed
    assert counters.add_to_window("w", 1, 2, NOW + 60_000, 60) == limits.WindowCount(
        True, 1, NOW + 120_000
    )


def test_a_window_adds_beyond_its_limit_only_without_one(counters):
    assert counters.add_to_window("w", 500, 0, NOW, 60).total == 500
    assert counters.add_to_window("w", 0, 600, NOW, 60).allowed
    assert counters.add_to_window("w", 200, 0, NOW, 60).total == 700
    assert not counters.add_to_window("w", 0, 600, NOW, 60).allowed


def test_adding_unless_full_adds_only_while_the_other_window_has_room(counters):
    counters.add_to_window("bytes", 500, 0, NOW, 60)
    checked, added = counters.add_unless_full(("bytes", 600), "count", 1, 2, NOW, 60)
    assert checked == limits.WindowCount(True, 500, NOW + 60_000)
    assert added == limits.WindowCount(True, 1, NOW + 60_000)
    counters.add_to_window("bytes", 100, 0, NOW, 60)
    checked, added = counters.add_unless_full(("bytes", 600), "count", 1, 2, NOW + 10, 60)
    assert checked == limits.WindowCount(False, 600, NOW + 60_000)
    assert added is None
    assert counters.add_to_window("count", 0, 0, NOW + 10, 60).total == 1


def test_adding_unless_full_refuses_at_its_own_limit(counters):
    for _ in range(2):
        counters.add_unless_full(("bytes", 600), "count", 1, 2, NOW, 60)
    checked, added = counters.add_unless_full(("bytes", 600), "count", 1, 2, NOW, 60)
    assert checked.allowed
    assert added == limits.WindowCount(False, 2, NOW + 60_000)


def test_a_window_never_counts_below_zero(counters):
    assert counters.add_to_window("w", -1, 0, NOW, 60).total == 0
    assert counters.add_to_window("w", 1, 0, NOW, 60).total == 1


def test_parallel_additions_never_pass_a_windows_limit(counters):
    start = threading.Barrier(PARALLEL)

    def add(_):
        start.wait()
        try:
            return counters.add_to_window("w", 1, 5, NOW, 60).allowed
        finally:
            db.close()

    with ThreadPoolExecutor(PARALLEL) as pool:
        allowed = list(pool.map(add, range(PARALLEL)))
    assert allowed.count(True) == 5


def test_very_long_keys_are_counted_too(counters):
    key = "password:client:" + "x" * 1000
    for _ in range(3):
        reserve(counters, key=key)
    assert not reserve(counters, key=key).granted
    assert reserve(counters, key=key[:-1] + "y").granted


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_worker_deletes_database_counters_whose_time_has_passed(counters):
    counters.add_to_window("old", 1, 0, NOW, 60)
    counters.add_to_window("new", 1, 0, NOW + 30_000, 60)
    assert limits.forget_expired(NOW + 60_000) == 1
    names = [row[0] for row in db.execute_sql("SELECT name FROM rate_counter").fetchall()]
    assert names == ["new"]


@pytest.mark.parametrize("store", ["sqlite"])
def test_the_worker_task_clears_old_database_counters(counters):
    counters.add_to_window("old", 1, 0, epoch_ms(utcnow()) - 120_000, 60)
    counters.add_to_window("new", 1, 0, epoch_ms(utcnow()), 60)
    assert tasks.forget_rate_counters.call_local() == 1
    names = [row[0] for row in db.execute_sql("SELECT name FROM rate_counter").fetchall()]
    assert names == ["new"]


def test_redis_counters_use_only_commands_redis_6_knows():
    """Redis 6 has no EXPIRE … NX/XX/GT/LT (7.0): the scripts must never need them.

    Only Redis 7 is installed here, so MONITOR lists every command the scripts run,
    and each must exist, with the same arguments, in Redis 6.
    """
    # HELLO: redis-py's own handshake on connecting (Redis 6.0 has it).
    redis_6 = {"hello", "evalsha", "eval", "script", "hmget", "hset", "hget", "pexpire", "ping"}
    with OwnRedis() as own:
        client = redis.Redis.from_url(own.url)
        counters = RedisCounters(client)
        watcher = redis.Redis.from_url(own.url)
        with watcher.monitor() as monitor:
            for n in range(5):
                attempt = reserve(counters, NOW + n)
                counters.release_attempt("k", attempt.locked_until)
                reserve(counters, NOW + n)
                counters.add_to_window("w", 1, 3, NOW + n, 60)
                counters.add_to_window("w", -1, 0, NOW + n, 60)
            client.ping()
            seen = []
            for entry in monitor.listen():
                if entry["command"] == "PING":
                    break
                seen.append(entry["command"].split())
    names = {words[0].lower() for words in seen}
    assert {"hmget", "hset", "pexpire"} <= names
    assert names <= redis_6, names
    for words in seen:
        if words[0].lower() == "pexpire":
            assert len(words) == 3, words  # key and milliseconds, no NX/XX/GT/LT


@pytest.mark.parametrize("store", ["sqlite"])
def test_while_redis_is_down_the_database_counts(counters, caplog):
    gone = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    down = RedisCounters(gone)
    with caplog.at_level(logging.WARNING, logger="drop.protection.limits"):
        for _ in range(3):
            assert reserve(down).granted
        assert not reserve(down).granted
    assert sum("Redis does not answer" in r.message for r in caplog.records) == 1
    assert not reserve(counters).granted  # the same rows the database counters keep


def test_limit_settings_come_from_the_environment():
    config = Config.from_env(
        {
            "DROP_PASSWORD_ATTEMPTS": "3",
            "DROP_PASSWORD_BACKOFF_BASE": "2",
            "DROP_PASSWORD_BACKOFF_CAP": "60",
            "DROP_UPLOADS_PER_HOUR": "0",
            "DROP_UPLOAD_BYTES_PER_HOUR": "1000",
        }
    )
    assert (config.password_attempts, config.password_backoff_base) == (3, 2)
    assert config.password_backoff_cap == 60
    assert (config.uploads_per_hour, config.upload_bytes_per_hour) == (0, 1000)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("DROP_PASSWORD_ATTEMPTS", "0"),
        ("DROP_PASSWORD_BACKOFF_BASE", "0"),
        ("DROP_PASSWORD_BACKOFF_CAP", "x"),
        ("DROP_UPLOADS_PER_HOUR", "-1"),
        ("DROP_UPLOAD_BYTES_PER_HOUR", "1e9"),
    ],
)
def test_bad_limit_settings_name_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({variable: value})


def test_a_backoff_base_above_its_cap_is_refused():
    with pytest.raises(ConfigError, match="DROP_PASSWORD_BACKOFF_BASE must not exceed"):
        Config.from_env({"DROP_PASSWORD_BACKOFF_BASE": "10", "DROP_PASSWORD_BACKOFF_CAP": "5"})
