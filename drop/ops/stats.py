"""The figures an operator watches, computed once for `drop-ops stats` and the dashboard."""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import asdict, dataclass

import peewee
import redis

from drop.heartbeat import WorkerHealth
from drop.models import LIVE, STATUSES, DownloadEvent, Drop
from drop.storage import BlobStorage

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
    bytes_live: int  # what the database says live drops hold
    bytes_on_disk: int  # what the blob directory really holds
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
    storage: BlobStorage,
    now: datetime.datetime,
    *,
    queue_length: int | None,
    worker: WorkerHealth,
) -> Stats:
    """Read the figures from the database and the blob directory (the caller holds a connection)."""
    by_status = dict.fromkeys(STATUSES, 0)
    for row in Drop.select(Drop.status, peewee.fn.COUNT(Drop.id).alias("n")).group_by(Drop.status):
        by_status[row.status] = row.n
    live = Drop.status == LIVE
    bytes_live = Drop.select(peewee.fn.COALESCE(peewee.fn.SUM(Drop.size), 0)).where(live).scalar()
    return Stats(
        generated_at=now,
        by_status=by_status,
        bytes_live=int(bytes_live),
        bytes_on_disk=storage.bytes_on_disk(),
        uploads={
            name: Drop.select().where(Drop.created_at > now - span).count()
            for name, span in WINDOWS.items()
        },
        downloads={
            name: DownloadEvent.select().where(DownloadEvent.downloaded_at > now - span).count()
            for name, span in WINDOWS.items()
        },
        largest_live=_summaries(Drop.select().where(live).order_by(Drop.size.desc(), Drop.id)),
        oldest_live=_summaries(Drop.select().where(live).order_by(Drop.created_at, Drop.id)),
        queue_length=queue_length,
        worker=worker,
    )


def queue_length(huey) -> int | None:
    """Tasks waiting in Huey's queue, or None when its storage cannot be reached."""
    try:
        return huey.pending_count()
    except (redis.RedisError, sqlite3.Error):
        return None  # a figure is missing; the rest of the page is still worth showing


def human_bytes(count: int) -> str:
    """1536 -> '1.5 KiB'; exact bytes below 1 KiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


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
