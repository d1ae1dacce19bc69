"""Removing drops for good, and reconciling the blob directory with the database.

The worker's sweep (drops.sweep) only frees blobs; rows stay so a gone drop keeps
answering 410. Purging removes rows as well, once they are older than a retention period.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from drop import drops
from drop.models import LIVE, REVOKED, DownloadEvent, Drop, db
from drop.ops.stats import WINDOWS
from drop.storage import BlobStorage

CHUNK = 500


@dataclass(frozen=True)
class PurgeResult:
    drops: int
    bytes_freed: int  # bytes of blobs actually removed from disk


@dataclass
class Reconciliation:
    """Where the blob directory and the database disagree."""

    orphan_blobs: list[tuple[str, int]] = field(default_factory=list)  # (token, size): no row
    missing_blobs: list[str] = field(default_factory=list)  # live drops without their blob
    stale_temps: list[Path] = field(default_factory=list)  # abandoned uploads

    @property
    def clean(self) -> bool:
        return not (self.orphan_blobs or self.missing_blobs or self.stale_temps)


def select_purgeable(
    now: datetime.datetime,
    *,
    older_than: datetime.timedelta,
    everything: bool = False,
    token: str | None = None,
) -> list[Drop]:
    """The drops a purge would remove, oldest first.

    By default: drops gone (downloaded, expired, deleted, revoked) or past their expiry
    for longer than `older_than`. `everything`: every drop created before that, live or
    not. `token`: that one drop, whatever its state.
    """
    if token is not None:
        where = Drop.token == token
    elif everything:
        where = Drop.created_at <= now - older_than
    else:
        cutoff = now - older_than
        where = ((Drop.status != LIVE) & (Drop.gone_at <= cutoff)) | (
            (Drop.status == LIVE) & (Drop.expires_at <= cutoff)
        )
    return list(Drop.select().where(where).order_by(Drop.created_at, Drop.id))


def purge_drops(
    storage: BlobStorage,
    doomed: Iterable[Drop],
    progress: Callable[[int], None] = lambda done: None,
) -> PurgeResult:
    """Delete each drop's row, then its blob; `progress` hears after each one.

    Row first: a download never finds a live row whose blob has just gone. A crash
    in between leaves an orphan blob, which reconciliation finds.
    """
    count = freed = 0
    for drop in doomed:
        with db.atomic():
            deleted = Drop.delete().where(Drop.id == drop.id).execute()
        size = blob_size(storage, drop.token)
        if storage.delete(drop.token):
            freed += size
        count += deleted
        progress(1)
    return PurgeResult(count, freed)


def prune_download_events(now: datetime.datetime) -> int:
    """Forget downloads older than the longest statistics window; return how many."""
    oldest_counted = now - max(WINDOWS.values())
    with db.atomic():
        return DownloadEvent.delete().where(DownloadEvent.downloaded_at <= oldest_counted).execute()


def reconcile(storage: BlobStorage, now: datetime.datetime) -> Reconciliation:
    """Compare blobs on disk with the rows in the database; change nothing."""
    found = Reconciliation()
    on_disk = dict(storage.blob_tokens())
    known = set()
    tokens = list(on_disk)
    for start in range(0, len(tokens), CHUNK):
        chunk = tokens[start : start + CHUNK]
        known.update(row.token for row in Drop.select(Drop.token).where(Drop.token.in_(chunk)))
    for token, stat in sorted(on_disk.items()):
        if token not in known and drops.past_orphan_grace(stat, now):
            found.orphan_blobs.append((token, stat.st_size))
    for row in Drop.select(Drop.token).where(Drop.status == LIVE).order_by(Drop.id):
        # An upload that committed after the listing has a row but no entry in it; its blob
        # was renamed into place before the row, so looking again tells the two apart.
        if row.token not in on_disk and not storage.exists(row.token):
            found.missing_blobs.append(row.token)
    found.stale_temps = sorted(storage.stale_temp_files(drops.STALE_TEMP_SECONDS))
    return found


def repair(storage: BlobStorage, found: Reconciliation, now: datetime.datetime) -> None:
    """Delete orphan blobs and stale temp files; end live drops whose blob is lost.

    A drop without its blob cannot be downloaded anyway (it answers 410); ending it as
    revoked makes the statistics say so too, and purging removes its row later.
    Each finding is checked again right before it is acted on: uploads keep committing
    while an operator reads the report.
    """
    for token, _size in found.orphan_blobs:
        drops.delete_orphan_blob(storage, token, now)
    for token in found.missing_blobs:
        if not storage.exists(token):
            drops.end_drop(token, REVOKED, now)
    for temp in found.stale_temps:
        temp.unlink(missing_ok=True)


def blob_size(storage: BlobStorage, token: str) -> int:
    try:
        return storage.path_for(token).stat().st_size
    except FileNotFoundError:
        return 0
