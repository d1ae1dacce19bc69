"""Per-hour counts of what the web app does, for the dashboard's charts (table `hourly_stat`).

Counting must cost a request nothing it would notice: each process adds to a dict in
memory (a lock and an addition), and its counts reach the database in one upsert per
flush, `value = value + excluded.value`, so any number of processes and nodes add up
in the same rows. The served app flushes from a background thread every
DROP_STATS_FLUSH_SECONDS and once more when the process exits; a crash loses at most
that many seconds of counts. Apps built in tests flush when told to.

Blocked requests: code that refuses a request because of a block calls
`count_blocked(req)`; every 451 answer counts as blocked too.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import threading
import time
from collections.abc import Callable

import falcon
import peewee

from drop.db.database import UNAVAILABLE_ERRORS
from drop.db.group_commit import durable_write
from drop.db.models import db
from drop.runtime.logs import first_line

log = logging.getLogger(__name__)

UPLOADS = "uploads"
DOWNLOADS = "downloads"
BYTES_IN = "bytes_in"
BYTES_OUT = "bytes_out"
ANSWERS_4XX = "answers_4xx"
BLOCKED = "blocked"
METRICS = (UPLOADS, DOWNLOADS, BYTES_IN, BYTES_OUT, ANSWERS_4XX, BLOCKED)

HOUR_SECONDS = 3600
# The charts show 7 days; a day more leaves room for a clock that is a little off.
KEEP = datetime.timedelta(days=8)
# Counts not yet written (a flush failed, or nobody flushes) are kept for this many hours.
MAX_PENDING_HOURS = 8 * 24

FLUSH_ERRORS = (peewee.DatabaseError, *UNAVAILABLE_ERRORS)


class HourlyStat(peewee.Model):
    """One metric's count in one hour (migration 0015)."""

    hour = peewee.DateTimeField()  # naive UTC, on the hour
    metric = peewee.CharField(max_length=16)
    value = peewee.BigIntegerField()

    class Meta:
        database = db
        table_name = "hourly_stat"
        primary_key = peewee.CompositeKey("hour", "metric")


def count_blocked(req: falcon.Request) -> None:
    """Count this request as blocked (an address or content block refused it).

    Call it on the request whose answer is a block's 403 (or any block's refusal); the
    metrics middleware counts it once, whatever the status, when the answer goes out.
    """
    req.context.blocked = True


def hour_of(epoch_seconds: float) -> datetime.datetime:
    """The naive-UTC hour an epoch time falls in."""
    start = int(epoch_seconds) // HOUR_SECONDS * HOUR_SECONDS
    return datetime.datetime.fromtimestamp(start, datetime.UTC).replace(tzinfo=None)


class HourlyCounts:
    """This process's counts not yet in the database, by hour and metric.

    `flush_every`: seconds between flushes from a background thread, started at the
    first count in each process (a thread does not survive gunicorn's fork); None: only
    `flush()` writes them.
    """

    def __init__(self, flush_every: float | None = None, clock: Callable[[], float] = time.time):
        self._flush_every = flush_every
        self._clock = clock
        self._lock = threading.Lock()  # guards _pending
        self._flush_lock = threading.Lock()  # one flush at a time
        self._pending: dict[tuple[int, str], int] = {}
        self._pid: int | None = None

    def add(self, metric: str, amount: int = 1) -> None:
        """Count `amount` of `metric` in the current hour (memory only: no I/O)."""
        hour = int(self._clock()) // HOUR_SECONDS
        key = (hour, metric)
        with self._lock:
            if key not in self._pending:  # a new hour: forget any never flushed (bounded)
                self._forget_hours_before(hour - MAX_PENDING_HOURS)
            self._pending[key] = self._pending.get(key, 0) + amount
        if self._flush_every and self._pid != os.getpid():
            self._start_flushing()

    def pending(self) -> dict[tuple[datetime.datetime, str], int]:
        """What `flush()` would write, keyed by hour and metric."""
        with self._lock:
            return {(hour_of(h * HOUR_SECONDS), m): n for (h, m), n in self._pending.items()}

    def flush(self) -> bool:
        """Add the counts to `hourly_stat`; False (and the counts kept) if the database refused."""
        with self._flush_lock:
            with self._lock:
                taken, self._pending = self._pending, {}
            if not taken:
                return True
            try:
                _add_to_table(taken)
            except FLUSH_ERRORS as error:
                self._give_back(taken)
                reason = first_line(error)
                log.warning("hourly stats: %d counts kept for later: %s", len(taken), reason)
                return False
            return True

    def _give_back(self, taken: dict[tuple[int, str], int]) -> None:
        with self._lock:
            for key, amount in taken.items():
                self._pending[key] = self._pending.get(key, 0) + amount
            self._forget_hours_before(int(self._clock()) // HOUR_SECONDS - MAX_PENDING_HOURS)

    def _forget_hours_before(self, oldest: int) -> None:
        for key in [key for key in self._pending if key[0] < oldest]:
            del self._pending[key]

    def _start_flushing(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._flush_forever, name="hourly-stats", daemon=True).start()
        # gunicorn's workers exit through sys.exit: the last seconds are written too.
        atexit.register(self._flush_at_exit)

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self._flush_every)
            self._flush_at_exit()

    def _flush_at_exit(self) -> None:
        try:
            with db.connection_context():
                self.flush()
        except FLUSH_ERRORS as error:  # could not even connect
            log.warning("hourly stats: not written: %s", first_line(error))


def _add_to_table(counts: dict[tuple[int, str], int]) -> None:
    rows = sorted(counts.items())  # the same order everywhere: no deadlock between nodes
    marks = ", ".join([f"({db.param}, {db.param}, {db.param})"] * len(rows))
    params = [
        value
        for (hour, metric), amount in rows
        for value in (hour_of(hour * HOUR_SECONDS), metric, amount)
    ]
    sql = (
        f'INSERT INTO "hourly_stat" ("hour", "metric", "value") VALUES {marks} '
        'ON CONFLICT ("hour", "metric") DO UPDATE '
        'SET "value" = "hourly_stat"."value" + excluded."value"'
    )
    # On SQLite, in the group commit's transaction: no second writer waits for the lock.
    durable_write(lambda: db.execute_sql(sql, params))


def read_hours(
    first: datetime.datetime, last: datetime.datetime
) -> list[tuple[datetime.datetime, str, int]]:
    """(hour, metric, value) of every row from hour `first` to hour `last`, both included:
    a range of the primary key, at most 6 rows an hour.

    Hand-written SQL and plain tuples: turning a thousand rows into models costs many
    times what the query does.
    """
    p = db.param
    sql = f'SELECT "hour", "metric", "value" FROM "hourly_stat" WHERE "hour" BETWEEN {p} AND {p}'
    rows = db.execute_sql(sql, (first, last)).fetchall()
    if rows and isinstance(rows[0][0], str):  # SQLite keeps timestamps as ISO text
        return [(datetime.datetime.fromisoformat(hour), m, v) for hour, m, v in rows]
    return rows


def trim(now: datetime.datetime, keep: datetime.timedelta = KEEP) -> int:
    """Delete the rows of hours older than `keep`; return how many (a few per hour at most)."""
    with db.atomic():
        return HourlyStat.delete().where(HourlyStat.hour < now - keep).execute()
