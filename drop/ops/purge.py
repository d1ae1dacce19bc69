"""Removing drops for good, and reconciling storage with the database.

The worker's sweep (drops.sweep) only frees blobs; rows stay so a gone drop keeps
answering 410. Purging removes rows as well, once they are older than a retention period.
Both purge and reconciliation hold one batch of rows (or one shard of blobs) at a time.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import peewee

from drop.db.models import LIVE, REVOKED, DownloadEvent, Drop, db
from drop.drops import lifecycle as drops
from drop.ops.stats import WINDOWS
from drop.protection import audit
from drop.storage import BlobStorage, StaleUpload, StoredBlob

BATCH = 1000


@dataclass(frozen=True)
class PurgeResult:
    drops: int
    bytes_freed: int  # bytes of blobs actually removed from storage


@dataclass(frozen=True)
class Purgeable:
    """How many drops a purge would remove, and the bytes of their blobs still stored."""

    drops: int
    bytes_stored: int


@dataclass
class Reconciliation:
    """Where storage and the database disagree."""

    orphan_blobs: list[StoredBlob] = field(default_factory=list)  # no row
    missing_blobs: list[str] = field(default_factory=list)  # live drops without their blob
    # Abandoned uploads: temp files, S3 multipart uploads whose node died.
    stale_temps: list[StaleUpload] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.orphan_blobs or self.missing_blobs or self.stale_temps)


def purgeable(
    now: datetime.datetime,
    *,
    older_than: datetime.timedelta,
    everything: bool = False,
    token: str | None = None,
) -> peewee.Expression:
    """Which drops a purge removes, as a condition on Drop.

    By default: drops gone (downloaded, expired, deleted, revoked) or past their expiry
    for longer than `older_than`. `everything`: every drop created before that, live or
    not. `token`: that one drop, whatever its state.
    """
    if token is not None:
        return Drop.token == token
    if everything:
        return Drop.created_at <= now - older_than
    cutoff = now - older_than
    return ((Drop.status != LIVE) & (Drop.gone_at <= cutoff)) | (
        (Drop.status == LIVE) & (Drop.expires_at <= cutoff)
    )


def count_purgeable(where: peewee.Expression) -> Purgeable:
    """Counted in the database: no row is loaded."""
    held = peewee.Case(None, [(Drop.blob_deleted_at.is_null(), Drop.size)], 0)
    count, size = (
        Drop.select(peewee.fn.COUNT(Drop.id), peewee.fn.COALESCE(peewee.fn.SUM(held), 0))
        .where(where)
        .tuples()
        .get()
    )
    return Purgeable(int(count), int(size))


def first_purgeable(where: peewee.Expression, limit: int) -> list[Drop]:
    """The oldest `limit` drops a purge would remove (what a dry run shows)."""
    return list(Drop.select().where(where).order_by(Drop.created_at, Drop.id).limit(limit))


def purge_drops(
    storage: BlobStorage,
    where: peewee.Expression,
    progress: Callable[[int], None] = lambda done: None,
    batch_size: int = BATCH,
) -> PurgeResult:
    """Delete the drops matching `where`, `batch_size` at a time: rows, then their blobs;
    `progress` hears after each batch.

    Rows first: a download never finds a live row whose blob has just gone. A crash
    in between leaves orphan blobs, which reconciliation finds.
    """
    count = freed = 0
    while True:
        rows = list(
            Drop.select(Drop.id, Drop.token, Drop.size, Drop.blob_deleted_at)
            .where(where)
            .limit(batch_size)
            .tuples()
        )
        if not rows:
            break
        with db.atomic():
            count += Drop.delete().where(Drop.id.in_([row[0] for row in rows])).execute()
        sizes = {token: size for _, token, size, blob_deleted_at in rows if not blob_deleted_at}
        freed += sum(sizes[token] for token in storage.delete_many(sizes))
        progress(len(rows))
        if len(rows) < batch_size:
            break
    return PurgeResult(count, freed)


def prune_download_events(now: datetime.datetime) -> int:
    """Forget downloads older than the longest statistics window; return how many."""
    oldest_counted = now - max(WINDOWS.values())
    with db.atomic():
        return DownloadEvent.delete().where(DownloadEvent.downloaded_at <= oldest_counted).execute()


def reconcile(storage: BlobStorage, now: datetime.datetime) -> Reconciliation:
    """Compare every blob in storage with the rows in the database; change nothing.

    Both sides are read in token order and walked side by side (a merge join): one shard
    of the listing and one page of rows in memory, whatever the size of the store. Only
    the findings are kept, and a store in order has few.
    """
    found = Reconciliation()
    blobs = storage.blob_tokens()
    rows = _rows_by_token()
    blob = next(blobs, None)
    row = next(rows, None)
    while blob is not None or row is not None:
        if row is None or (blob is not None and blob.token < row[0]):
            if drops.past_orphan_grace(blob.modified, now):
                found.orphan_blobs.append(blob)
            blob = next(blobs, None)
        elif blob is None or row[0] < blob.token:
            token, status = row
            # An upload that committed after its shard was listed has a row but no entry
            # in the listing; its blob was renamed into place before the row, so looking
            # again tells the two apart.
            if status == LIVE and not storage.exists(token):
                found.missing_blobs.append(token)
            row = next(rows, None)
        else:
            blob, row = next(blobs, None), next(rows, None)
    found.stale_temps = storage.stale_uploads(now, drops.STALE_TEMP_SECONDS)
    return found


def _rows_by_token(page: int = BATCH) -> Iterator[tuple[str, str]]:
    """(token, status) of every drop in token order, a page at a time through its index."""
    last = ""
    while True:
        rows = list(
            Drop.select(Drop.token, Drop.status)
            .where(Drop.token > last)
            .order_by(Drop.token)
            .limit(page)
            .tuples()
        )
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1][0]


def tidy(storage: BlobStorage, found: Reconciliation, now: datetime.datetime) -> None:
    """Delete orphan blobs and stale temp files (what the worker's reconciliation repairs).

    Each finding is checked again right before it is acted on: uploads keep committing
    while the walk goes on.
    """
    for blob in found.orphan_blobs:
        drops.delete_orphan_blob(storage, blob, now)
    for stale in found.stale_temps:
        storage.remove_stale_upload(stale)


def repair(storage: BlobStorage, found: Reconciliation, now: datetime.datetime) -> None:
    """tidy(), and end live drops whose blob is lost (`drop-ops purge --fix`).

    A drop without its blob cannot be downloaded anyway (it answers 410); ending it as
    revoked makes the statistics say so too, and purging removes its row later. Only an
    operator does this: a store that is briefly unreachable must not end every drop.
    """
    tidy(storage, found, now)
    for token in found.missing_blobs:
        if not storage.exists(token):
            drops.end_drop(token, REVOKED, now)


def record_purge(
    mode: str,
    retention: datetime.timedelta,
    result: PurgeResult,
    found,
    *,
    fix: bool,
    token: str | None,
    now: datetime.datetime,
    actor: str,
) -> None:
    """The audit trail's record of a purge (`mode`: expired, all or token) and of what its
    reconciliation `found`."""
    detail = {
        "mode": mode,
        "older_than_seconds": int(retention.total_seconds()),
        "fix": fix,
        "drops": result.drops,
        "bytes_freed": result.bytes_freed,
        "orphan_blobs": len(found.orphan_blobs),
        "missing_blobs": len(found.missing_blobs),
        "stale_temps": len(found.stale_temps),
    }
    target = {"all": "all drops", "expired": "expired drops"}.get(mode)
    if token is not None:
        detail["token_prefix"] = audit.token_prefix(token)
        target = f"drop {audit.token_prefix(token)}"
    audit.record(audit.PURGE, actor=actor, at=now, target=target, detail=detail)
