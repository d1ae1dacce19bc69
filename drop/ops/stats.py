"""The figures an operator watches, computed once for `drop-ops stats` and the dashboard.

Every figure comes from the database through an index or the drop tally (migration 0010),
never from storage: the dashboard asks for them every few seconds per open tab, and the
time they take must not grow with the number of drops or blobs.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import asdict, dataclass

import peewee
import redis

from drop.db.models import (
    DOWNLOADS,
    LIVE,
    STATUSES,
    UPLOADS,
    DownloadEvent,
    Drop,
    DropTally,
    HourlyTally,
)
from drop.runtime.heartbeat import WorkerHealth

WINDOWS = {
    "hour": datetime.timedelta(hours=1),
    "day": datetime.timedelta(days=1),
    "week": datetime.timedelta(weeks=1),
}
TOP = 5


@dataclass(frozen=True)
class DropSummary:
    """A live drop as the operator sees it: never the whole token, which is the download key."""

    token_prefix: str
    filename: str
    size: int
    created_at: datetime.datetime
    expires_at: datetime.datetime
    uploader_address: str | None = None  # None once DROP_UPLOADER_RETENTION has passed
    uploader_agent: str | None = None

    @property
    def uploader(self) -> str:
        """'203.0.113.7, curl/8.5.0', or '' when the uploader is not (or no longer) known."""
        if not self.uploader_address:
            return ""
        return ", ".join(filter(None, (self.uploader_address, self.uploader_agent)))


@dataclass(frozen=True)
class Stats:
    generated_at: datetime.datetime
    by_status: dict[str, int]
    bytes_live: int  # the sizes of live drops
    bytes_stored: int  # the sizes of every blob storage holds: live drops', and gone
    # drops' until the sweep deletes them (orphans, if any, are reconciliation's to find)
    uploads: dict[str, int]  # per window in WINDOWS
    downloads: dict[str, int]
    largest_live: list[DropSummary]
    oldest_live: list[DropSummary]
    queue_length: int | None  # None: the queue could not be reached
    worker: WorkerHealth

    @property
    def total_drops(self) -> int:
        return sum(self.by_status.values())

    def as_json(self) -> dict:
        """Plain JSON types, timestamps as ISO 8601 UTC."""
        return _jsonable(asdict(self))


def collect_stats(
    now: datetime.datetime,
    *,
    queue_length: int | None,
    worker: WorkerHealth,
) -> Stats:
    """Read the figures from the database (the caller holds a connection)."""
    by_status = dict.fromkeys(STATUSES, 0)
    bytes_live = bytes_stored = 0
    for status, holds_blob, drops, size in tally():
        by_status[status] = by_status.get(status, 0) + drops
        if status == LIVE:
            bytes_live += size
        if holds_blob:
            bytes_stored += size
    live = Drop.status == LIVE
    return Stats(
        generated_at=now,
        by_status=by_status,
        bytes_live=bytes_live,
        bytes_stored=bytes_stored,
        uploads=_per_window(UPLOADS, Drop.created_at, now),
        downloads=_per_window(DOWNLOADS, DownloadEvent.downloaded_at, now),
        # Both read the first entries of a partial index of live drops (migration 0010).
        largest_live=_summaries(Drop.select().where(live).order_by(Drop.size.desc(), Drop.id)),
        oldest_live=_summaries(Drop.select().where(live).order_by(Drop.created_at, Drop.id)),
        queue_length=queue_length,
        worker=worker,
    )


def tally() -> list[tuple[str, bool, int, int]]:
    """(status, blob held, drops, bytes), summed over the tally's rows of changes."""
    query = DropTally.select(
        DropTally.status,
        DropTally.holds_blob,
        peewee.fn.SUM(DropTally.drops),
        peewee.fn.SUM(DropTally.bytes),
    ).group_by(DropTally.status, DropTally.holds_blob)
    return [
        (status, bool(holds_blob), int(drops), int(size))
        for status, holds_blob, drops, size in query.tuples()
        if drops or size  # changes that cancel out, not yet folded away
    ]


def _per_window(kind: str, moment: peewee.Field, now: datetime.datetime) -> dict[str, int]:
    """How many rows `moment` puts in each window, exactly, without counting them all.

    Whole hours come from the hourly tally (at most 169 rows for a week); the part of an
    hour at the window's start is counted through `moment`'s index. (A purge removes
    rows, not their hours: an upload still counts in its week once purged.)
    """
    oldest = now - max(WINDOWS.values())
    hours = dict(
        HourlyTally.select(HourlyTally.hour, peewee.fn.SUM(HourlyTally.count))
        .where((HourlyTally.kind == kind) & (HourlyTally.hour >= hour_after(oldest)))
        .group_by(HourlyTally.hour)
        .tuples()
    )
    counts = {}
    for name, span in WINDOWS.items():
        start = now - span
        first_hour = hour_after(start)
        whole = sum(int(count) for hour, count in hours.items() if hour >= first_hour)
        edge = (
            moment.model.select()
            .where((moment > start) & (moment < first_hour) & (moment <= now))
            .count()
        )
        counts[name] = whole + edge
    return counts


def hour_after(moment: datetime.datetime) -> datetime.datetime:
    """The start of the first whole hour after `moment`."""
    return moment.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=1)


def queue_length(huey) -> int | None:
    """Tasks waiting in Huey's queue, or None when its storage cannot be reached."""
    try:
        return huey.pending_count()
    except (redis.RedisError, sqlite3.Error):
        return None  # a figure is missing; the rest of the page is still worth showing


def _summaries(query) -> list[DropSummary]:
    return [
        DropSummary(
            d.token[:8],
            d.filename,
            d.size,
            d.created_at,
            d.expires_at,
            d.uploader_address,
            d.uploader_agent,
        )
        for d in query.limit(TOP)
    ]


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="seconds") + "Z"
    return value
