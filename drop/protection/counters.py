"""The counts behind drop's limits, kept where every worker process sees them: in Redis when
it is configured (one Lua script per change, so each is atomic; only commands Redis 6 knows),
else in the database's `rate_counter` table (one `INSERT … ON CONFLICT DO UPDATE … RETURNING`
per change). drop/protection/limits.py says what is counted and what it allows.

Times are epoch milliseconds taken from the app's clock, so tests can move them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from dataclasses import dataclass
from typing import Protocol

import redis

from drop.db.group_commit import forgettable_write
from drop.db.models import db

log = logging.getLogger(__name__)


REDIS_PREFIX = "drop:limits:"


# Longer keys (an odd peer address, say) are hashed to fit the table's column.
MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class Backoff:
    """`free_attempts` attempts, then a lock of `base_seconds`, doubling up to `cap_seconds`.

    The attempt that reaches `free_attempts` already holds the first lock, so parallel
    requests wait for its answer; a right answer lifts the lock it set.
    """

    free_attempts: int
    base_seconds: int
    cap_seconds: int
    forget_seconds: int

    def lock_ms(self, attempts: int) -> int:
        """How long the `attempts`-th attempt locks the counter (0: it is a free one)."""
        if attempts < self.free_attempts:
            return 0
        doublings = attempts - self.free_attempts
        return min(self.base_seconds * 1000 << min(doublings, self.doublings_to_cap), self.cap_ms)

    @property
    def cap_ms(self) -> int:
        return self.cap_seconds * 1000

    @property
    def doublings_to_cap(self) -> int:
        """The fewest doublings of the base that reach the cap."""
        return max(math.ceil(math.log2(self.cap_seconds / self.base_seconds)), 0)


@dataclass(frozen=True)
class Attempt:
    granted: bool
    locked_until: int  # epoch ms; when not granted, when to come back


@dataclass(frozen=True)
class WindowCount:
    allowed: bool
    total: int
    resets_at: int  # epoch ms


class Counters(Protocol):
    """Where the counts live; every method is one atomic change."""

    def reserve_attempt(self, key: str, now: int, backoff: Backoff) -> Attempt: ...

    def release_attempt(self, key: str, locked_until: int) -> None: ...

    def add_to_window(
        self, key: str, amount: int, limit: int, now: int, window_seconds: int
    ) -> WindowCount: ...

    def add_unless_full(
        self,
        full: tuple[str, int],
        key: str,
        amount: int,
        limit: int,
        now: int,
        window_seconds: int,
    ) -> tuple[WindowCount, WindowCount | None]: ...


def hashed_key(secret: str) -> str:
    """A name for a counter about `secret` (a drop's token) that does not hold it."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _short(key: str) -> str:
    return key if len(key) <= MAX_KEY_CHARS else hashed_key(key)


class DatabaseCounters:
    """Counters in the `rate_counter` table (migration 0003), on SQLite and PostgreSQL alike.

    Each change is one upsert whose CASE expressions read the row as it was, so two
    workers can never both take the last attempt. Numbers are formatted into the SQL
    (they are ints drop computed); the key, which holds a client's address, is a parameter.
    """

    def reserve_attempt(self, key: str, now: int, backoff: Backoff) -> Attempt:
        key = _short(key)
        # While locked, a flood of refused guesses only reads: no write lock on SQLite.
        row = db.execute_sql(
            f"SELECT locked_until FROM rate_counter WHERE name = {db.param} "
            f"AND expires_at > {int(now)} AND locked_until > {int(now)}",
            (key,),
        ).fetchone()
        if row is not None:
            return Attempt(False, row[0])
        nonce = secrets.randbits(62)
        current = f"(CASE WHEN rate_counter.expires_at <= {now} THEN 0 ELSE rate_counter.hits END)"
        attempts = f"({current} + 1)"
        # The lock for each attempt below the cap, spelled out: SQLite has no power().
        lock = " ".join(
            f"WHEN {backoff.free_attempts + n} THEN {backoff.lock_ms(backoff.free_attempts + n)}"
            for n in range(backoff.doublings_to_cap)
        )
        lock = f"(CASE {attempts} {lock} ELSE {backoff.cap_ms} END)" if lock else backoff.cap_ms
        locked_until = (
            f"(CASE WHEN {attempts} < {backoff.free_attempts} THEN 0 ELSE {now} + {lock} END)"
        )
        expires_at = (
            f"(CASE WHEN {attempts} < {backoff.free_attempts} THEN {now} "
            f"ELSE {locked_until} END) + {backoff.forget_seconds * 1000}"
        )
        locked = f"(rate_counter.expires_at > {now} AND rate_counter.locked_until > {now})"
        first_lock = now + backoff.lock_ms(1) if backoff.lock_ms(1) else 0
        first_expiry = max(first_lock, now) + backoff.forget_seconds * 1000
        row = _write(
            "INSERT INTO rate_counter (name, hits, locked_until, expires_at, grant_id) "
            f"VALUES ({db.param}, 1, {first_lock}, {first_expiry}, {nonce}) "
            "ON CONFLICT (name) DO UPDATE SET "
            f"hits = CASE WHEN {locked} THEN rate_counter.hits ELSE {attempts} END, "
            f"locked_until = CASE WHEN {locked} THEN rate_counter.locked_until "
            f"ELSE {locked_until} END, "
            f"expires_at = CASE WHEN {locked} THEN rate_counter.expires_at ELSE {expires_at} END, "
            f"grant_id = CASE WHEN {locked} THEN rate_counter.grant_id ELSE {nonce} END "
            "RETURNING locked_until, grant_id",
            (key,),
        )
        return Attempt(row[1] == nonce, row[0])

    def release_attempt(self, key: str, locked_until: int) -> None:
        sql = (
            "UPDATE rate_counter SET hits = CASE WHEN hits > 0 THEN hits - 1 ELSE 0 END, "
            f"locked_until = CASE WHEN locked_until = {int(locked_until)} THEN 0 "
            f"ELSE locked_until END WHERE name = {db.param}"
        )
        forgettable_write(lambda: db.execute_sql(sql, (_short(key),)))

    def add_to_window(
        self, key: str, amount: int, limit: int, now: int, window_seconds: int
    ) -> WindowCount:
        resets = now + window_seconds * 1000
        if amount == 0:
            # A check that adds nothing (the bytes quota, before an upload) only reads:
            # on SQLite no write lock and no commit to wait for.
            row = db.execute_sql(
                f"SELECT hits, expires_at FROM rate_counter WHERE name = {db.param} "
                f"AND expires_at > {int(now)}",
                (_short(key),),
            ).fetchone()
            total, resets = row if row is not None else (0, resets)
            return WindowCount(not (limit and total >= limit), total, resets)
        nonce = secrets.randbits(62)
        stale = f"(rate_counter.expires_at <= {now})"
        total = f"(CASE WHEN {stale} THEN 0 ELSE rate_counter.hits END)"
        refused = f"({total} >= {limit})" if limit and amount >= 0 else "(1 = 0)"
        row = _write(
            "INSERT INTO rate_counter (name, hits, locked_until, expires_at, grant_id) "
            f"VALUES ({db.param}, {max(int(amount), 0)}, 0, {resets}, {nonce}) "
            "ON CONFLICT (name) DO UPDATE SET "
            f"hits = CASE WHEN {refused} THEN rate_counter.hits "
            f"WHEN {total} + {int(amount)} < 0 THEN 0 ELSE {total} + {int(amount)} END, "
            f"expires_at = CASE WHEN {stale} THEN {resets} ELSE rate_counter.expires_at END, "
            f"grant_id = CASE WHEN {refused} THEN rate_counter.grant_id ELSE {nonce} END "
            "RETURNING hits, expires_at, grant_id",
            (_short(key),),
        )
        return WindowCount(row[2] == nonce, row[0], row[1])

    def add_unless_full(
        self,
        full: tuple[str, int],
        key: str,
        amount: int,
        limit: int,
        now: int,
        window_seconds: int,
    ) -> tuple[WindowCount, WindowCount | None]:
        """Add to `key`'s window unless the window `full` names has reached its limit.

        Here the check is a read and the addition its own change: the check only turns
        away uploads early, and nothing larger than one upload can slip between them.
        """
        full_key, full_limit = full
        checked = self.add_to_window(full_key, 0, full_limit, now, window_seconds)
        if not checked.allowed:
            return checked, None
        return checked, self.add_to_window(key, amount, limit, now, window_seconds)


def _write(sql: str, params: tuple) -> tuple:
    # An upsert … RETURNING, committed before drop answers. A power cut may lose a few
    # counts, which costs nothing, so on SQLite it does not wait for an fsync
    # (drop.db.group_commit). Inside a transaction already (an upload's bytes, counted with
    # its row) it commits with that.
    def write() -> tuple:
        return db.execute_sql(sql, params).fetchone()

    return write() if db.in_transaction() else forgettable_write(write)


def forget_expired(now: int, batch: int = 1000) -> int:
    """Delete up to `batch` rate_counter rows nobody needs any more; return how many."""
    cursor = db.execute_sql(
        "DELETE FROM rate_counter WHERE name IN "
        f"(SELECT name FROM rate_counter WHERE expires_at <= {int(now)} LIMIT {int(batch)})"
    )
    return cursor.rowcount


# KEYS[1] a hash {hits, locked_until, expires_at}; ARGV now, free attempts, base, cap,
# forget (ms). Only HMGET, HSET and PEXPIRE: Redis 6 (and 4) know them all.
_RESERVE = """
local now, free, base, cap, forget =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'hits', 'locked_until', 'expires_at')
local hits, locked_until = tonumber(state[1]) or 0, tonumber(state[2]) or 0
if (tonumber(state[3]) or 0) <= now then hits, locked_until = 0, 0 end
if locked_until > now then return {0, locked_until} end
hits = hits + 1
locked_until = 0
if hits >= free then
  locked_until = now + math.min(base * 2 ^ math.min(hits - free, 40), cap)
end
local expires_at = math.max(now, locked_until) + forget
redis.call('HSET', KEYS[1], 'hits', hits, 'locked_until', locked_until, 'expires_at', expires_at)
redis.call('PEXPIRE', KEYS[1], expires_at - now)
return {1, locked_until}
"""


# KEYS[1] as above; ARGV the lock the released attempt set (0: none).
_RELEASE = """
local state = redis.call('HMGET', KEYS[1], 'hits', 'locked_until')
local hits = tonumber(state[1])
if not hits then return 0 end
if hits > 0 then redis.call('HSET', KEYS[1], 'hits', hits - 1) end
local mine = tonumber(ARGV[1])
if mine > 0 and tonumber(state[2]) == mine then
  redis.call('HSET', KEYS[1], 'locked_until', 0)
end
return 1
"""


# KEYS[1] a hash {hits, expires_at}; ARGV amount, limit (0: none), now, window (ms).
_ADD = """
local amount, limit, now, window =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'hits', 'expires_at')
local hits, resets = tonumber(state[1]) or 0, tonumber(state[2]) or 0
if resets <= now then hits, resets = 0, now + window end
if limit > 0 and amount >= 0 and hits >= limit then return {0, hits, resets} end
hits = math.max(hits + amount, 0)
redis.call('HSET', KEYS[1], 'hits', hits, 'expires_at', resets)
redis.call('PEXPIRE', KEYS[1], resets - now)
return {1, hits, resets}
"""


# KEYS[1] a window only checked, KEYS[2] the window added to, hashes as above; ARGV the
# first's limit, then amount, limit, now, window (ms) as _ADD's. Returns the first's
# {allowed, hits, resets}, then (if it allowed) the second's.
_ADD_UNLESS_FULL = """
local full_limit, amount, limit, now, window =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function current(key)
  local state = redis.call('HMGET', key, 'hits', 'expires_at')
  local hits, resets = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  if resets <= now then hits, resets = 0, now + window end
  return hits, resets
end
local full_hits, full_resets = current(KEYS[1])
if full_limit > 0 and full_hits >= full_limit then return {0, full_hits, full_resets} end
local hits, resets = current(KEYS[2])
if limit > 0 and amount >= 0 and hits >= limit then
  return {1, full_hits, full_resets, 0, hits, resets}
end
hits = math.max(hits + amount, 0)
redis.call('HSET', KEYS[2], 'hits', hits, 'expires_at', resets)
redis.call('PEXPIRE', KEYS[2], resets - now)
return {1, full_hits, full_resets, 1, hits, resets}
"""


class RedisCounters:
    """Counters in Redis, one Lua script per change; the database stands in while Redis is down."""

    def __init__(self, client: redis.Redis, fallback: Counters | None = None):
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._add = client.register_script(_ADD)
        self._add_unless_full = client.register_script(_ADD_UNLESS_FULL)
        self._fallback = fallback or DatabaseCounters()
        self._redis_down = False

    def reserve_attempt(self, key: str, now: int, backoff: Backoff) -> Attempt:
        args = [now, backoff.free_attempts, backoff.base_seconds * 1000, backoff.cap_ms]
        result = self._run(self._reserve, key, args + [backoff.forget_seconds * 1000])
        if result is None:
            return self._fallback.reserve_attempt(key, now, backoff)
        return Attempt(bool(result[0]), int(result[1]))

    def release_attempt(self, key: str, locked_until: int) -> None:
        if self._run(self._release, key, [locked_until]) is None:
            self._fallback.release_attempt(key, locked_until)

    def add_to_window(
        self, key: str, amount: int, limit: int, now: int, window_seconds: int
    ) -> WindowCount:
        result = self._run(self._add, key, [amount, limit, now, window_seconds * 1000])
        if result is None:
            return self._fallback.add_to_window(key, amount, limit, now, window_seconds)
        return WindowCount(bool(result[0]), int(result[1]), int(result[2]))

    def add_unless_full(
        self,
        full: tuple[str, int],
        key: str,
        amount: int,
        limit: int,
        now: int,
        window_seconds: int,
    ) -> tuple[WindowCount, WindowCount | None]:
        full_key, full_limit = full
        args = [full_limit, amount, limit, now, window_seconds * 1000]
        result = self._run(self._add_unless_full, [full_key, key], args)
        if result is None:
            return self._fallback.add_unless_full(full, key, amount, limit, now, window_seconds)
        checked = WindowCount(bool(result[0]), int(result[1]), int(result[2]))
        if len(result) == 3:
            return checked, None
        return checked, WindowCount(bool(result[3]), int(result[4]), int(result[5]))

    def _run(self, script, key: str | list[str], args: list[int]):
        keys = [key] if isinstance(key, str) else key
        try:
            result = script(keys=[REDIS_PREFIX + _short(name) for name in keys], args=args)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            if not self._redis_down:
                log.warning("limits counted in the database while Redis does not answer: %s", error)
                self._redis_down = True
            return None
        if self._redis_down:
            log.warning("limits counted in Redis again")
            self._redis_down = False
        return result


def open_counters(redis_client: redis.Redis | None) -> Counters:
    """Redis counters when Redis is configured, the database's otherwise."""
    return RedisCounters(redis_client) if redis_client is not None else DatabaseCounters()
