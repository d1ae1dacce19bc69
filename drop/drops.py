"""What can happen to a drop: created, claimed, ended early, expired, swept."""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass, field

import peewee

from drop import crypto
from drop.models import DOWNLOADED, EXPIRED, LIVE, DownloadEvent, Drop, db
from drop.storage import BlobStorage, TempBlob

log = logging.getLogger(__name__)

# An upload renames its blob into place a moment before its row commits; a blob with
# no row younger than this may be one of those, so the sweep leaves it alone.
ORPHAN_GRACE_SECONDS = 15 * 60
# An upload still receiving bytes keeps touching its temp file.
STALE_TEMP_SECONDS = 60 * 60


def utcnow() -> datetime.datetime:
    """Naive UTC, the form every timestamp takes in the database."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class NewDrop:
    drop: Drop
    delete_token: str  # shown to the uploader once; only its hash is stored


@dataclass(frozen=True)
class Claim:
    """A download that was granted; `last` when no download is left after it."""

    downloads: int
    max_downloads: int

    @property
    def last(self) -> bool:
        return self.downloads >= self.max_downloads


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    blobs_deleted: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    temps_deleted: int = 0


def create_drop(
    storage: BlobStorage,
    temp: TempBlob,
    *,
    filename: str,
    content_type: str,
    password: str | None,
    expires_in: int,
    max_downloads: int,
    now: datetime.datetime,
) -> NewDrop:
    """Move an upload into place, then commit its row: no row ever points at a partial blob."""
    token = crypto.new_token()
    delete_token = crypto.new_token()
    storage.commit(temp, token)
    try:
        with db.atomic():
            drop = Drop.create(
                token=token,
                filename=filename,
                content_type=content_type,
                size=temp.size,
                sha256=temp.sha256,
                password_hash=crypto.hash_password(password) if password else None,
                delete_token_hash=crypto.hash_delete_token(delete_token),
                created_at=now,
                expires_at=now + datetime.timedelta(seconds=expires_in),
                max_downloads=max_downloads,
            )
    except BaseException:
        storage.delete(token)
        raise
    return NewDrop(drop, delete_token)


def find_drop(token: str) -> Drop | None:
    return Drop.get_or_none(Drop.token == token)


def claim_download(token: str, now: datetime.datetime) -> Claim | None:
    """Count one download, or return None if none is left.

    One conditional UPDATE … RETURNING: the database serialises concurrent claims on
    the row, so no number of simultaneous requests can exceed max_downloads.
    """
    used_up = (Drop.downloads + 1) >= Drop.max_downloads
    query = (
        Drop.update(
            downloads=Drop.downloads + 1,
            status=peewee.Case(None, [(used_up, DOWNLOADED)], Drop.status),
            gone_at=peewee.Case(None, [(used_up, now)], Drop.gone_at),
        )
        .where(
            (Drop.token == token)
            & (Drop.status == LIVE)
            & (Drop.downloads < Drop.max_downloads)
            & (Drop.expires_at > now)
        )
        .returning(Drop.downloads, Drop.max_downloads)
    )
    with db.atomic():
        rows = list(query.execute())
        if rows:
            DownloadEvent.create(downloaded_at=now)
    if not rows:
        return None
    return Claim(rows[0].downloads, rows[0].max_downloads)


def end_drop(token: str, status: str, now: datetime.datetime) -> bool:
    """Make a live drop gone now (deleted or revoked); False if it was not live."""
    with db.atomic():
        changed = (
            Drop.update(status=status, gone_at=now)
            .where((Drop.token == token) & (Drop.status == LIVE))
            .execute()
        )
    return changed == 1


def expire_due(now: datetime.datetime) -> list[str]:
    """Mark every live drop past its expiry as expired; return their tokens."""
    with db.atomic():
        rows = (
            Drop.update(status=EXPIRED, gone_at=now)
            .where((Drop.status == LIVE) & (Drop.expires_at <= now))
            .returning(Drop.token)
            .execute()
        )
        return [row.token for row in rows]


def sweep(storage: BlobStorage, now: datetime.datetime, grace_seconds: int = 0) -> SweepReport:
    """Expire due drops and remove every blob that no live drop needs, plus stale temp files.

    A drop that went away less than `grace_seconds` ago keeps its blob: a proxy serving
    its last download (X-Accel-Redirect) may not have opened the file yet.
    """
    report = SweepReport(expired=expire_due(now))
    on_disk = dict(storage.blob_tokens())
    keep = set()
    known = set()
    recently_gone = now - datetime.timedelta(seconds=grace_seconds)
    tokens = list(on_disk)
    for start in range(0, len(tokens), 500):
        chunk = tokens[start : start + 500]
        query = Drop.select(Drop.token, Drop.status, Drop.gone_at).where(Drop.token.in_(chunk))
        for row in query:
            known.add(row.token)
            if row.status == LIVE or (row.gone_at and row.gone_at > recently_gone):
                keep.add(row.token)
    for token, stat in on_disk.items():
        if token in keep:
            continue
        if token in known:
            if storage.delete(token):
                report.blobs_deleted.append(token)
        elif past_orphan_grace(stat, now) and delete_orphan_blob(storage, token, now):
            report.orphans_deleted.append(token)
    for temp in storage.stale_temp_files(STALE_TEMP_SECONDS):
        temp.unlink(missing_ok=True)
        report.temps_deleted += 1
    return report


def past_orphan_grace(stat: os.stat_result, now: datetime.datetime) -> bool:
    """Whether a blob without a row is too old to be an upload about to commit its row."""
    return _utc_timestamp(stat.st_mtime) < now.timestamp() - ORPHAN_GRACE_SECONDS


def delete_orphan_blob(storage: BlobStorage, token: str, now: datetime.datetime) -> bool:
    """Delete a blob found without a row, unless it is young or its row has appeared since.

    Callers list the disk, then read rows; looking again right before deleting keeps an
    upload that committed in between.
    """
    try:
        stat = storage.path_for(token).stat()
    except FileNotFoundError:
        return False
    if not past_orphan_grace(stat, now) or Drop.select().where(Drop.token == token).exists():
        return False
    return storage.delete(token)


def _utc_timestamp(epoch_seconds: float) -> float:
    # `now` is naive UTC; .timestamp() on it reads it as local time, so convert st_mtime
    # the same way to compare like with like.
    return (
        datetime.datetime.fromtimestamp(epoch_seconds, datetime.UTC)
        .replace(tzinfo=None)
        .timestamp()
    )
