"""What can happen to a drop: created, claimed, ended early, expired, swept."""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee

from drop import crypto
from drop.group_commit import durable_write
from drop.models import DOWNLOADED, EXPIRED, LIVE, MAX_ADDRESS_CHARS, MAX_AGENT_CHARS, Drop, db
from drop.storage import BlobStorage, TempBlob

log = logging.getLogger(__name__)


# An upload renames its blob into place a moment before its row commits; a blob with
# no row younger than this may be one of those, so the sweep leaves it alone.
ORPHAN_GRACE_SECONDS = 15 * 60
# An upload still receiving bytes keeps touching its temp file.
STALE_TEMP_SECONDS = 60 * 60
# Uploader erasure (erase_uploaders): rows per statement, statements per sweep.
UPLOADER_ERASE_BATCH = 1000
UPLOADER_ERASE_MAX_BATCHES = 100


def utcnow() -> datetime.datetime:
    """Naive UTC, the form every timestamp takes in the database."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class NewDrop:
    drop: Drop
    delete_token: str  # shown to the uploader once; only its hash is stored


@dataclass(frozen=True)
class ClaimedDrop:
    """What serving a granted download needs of the drop, as it is after the claim."""

    token: str
    filename: str
    content_type: str
    size: int
    downloads: int
    max_downloads: int

    @property
    def last(self) -> bool:
        """No download is left after this one."""
        return self.downloads >= self.max_downloads


CLAIMED_COLUMNS = ", ".join(f'"{name}"' for name in ClaimedDrop.__dataclass_fields__)


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    blobs_deleted: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    temps_deleted: int = 0
    uploaders_erased: int = 0


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
    uploader_address: str | None = None,
    uploader_agent: str | None = None,
    password_hash: str | None = None,
    on_insert: Callable[[NewDrop], None] | None = None,
) -> NewDrop:
    """Move an upload into place, then commit its row: no row ever points at a partial blob.

    `uploader_address` and `uploader_agent` are kept for the operator until
    erase_uploaders clears them; without an address no agent is kept either, since the
    address is what marks a row as still holding its uploader.

    `password_hash` is used when there is no `password` (hashed earlier, when the upload
    began). `on_insert(new_drop)` runs in the row's transaction: what it writes commits with
    the row, and if it raises, neither is kept (and the blob is removed again).
    """
    if not uploader_address:
        uploader_agent = None
    token = crypto.new_token()
    delete_token = crypto.new_token()
    drop = Drop(
        token=token,
        filename=filename,
        content_type=content_type,
        size=temp.size,
        sha256=temp.sha256,
        password_hash=crypto.hash_password(password) if password else password_hash,
        delete_token_hash=crypto.hash_delete_token(delete_token),
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=expires_in),
        max_downloads=max_downloads,
        downloads=0,
        status=LIVE,
        # Cut to the columns' widths: PostgreSQL refuses a longer value outright.
        uploader_address=uploader_address[:MAX_ADDRESS_CHARS] if uploader_address else None,
        uploader_agent=uploader_agent[:MAX_AGENT_CHARS] if uploader_agent else None,
    )
    new = NewDrop(drop, delete_token)
    storage.commit(temp, token)
    try:
        _insert_row(drop, on_insert and (lambda: on_insert(new)))
    except BaseException:
        storage.delete(token)
        raise
    return new


def _insert_row(drop: Drop, on_insert: Callable[[], None] | None = None) -> None:
    # One statement, committed on its own (peewee runs in autocommit outside atomic()):
    # one round trip instead of BEGIN, INSERT and COMMIT, and no statement building.
    values = {
        field.column_name: getattr(drop, name)
        for name, field in Drop._meta.fields.items()
        if name != "id"
    }
    columns = ", ".join(f'"{name}"' for name in values)
    marks = ", ".join([db.param] * len(values))
    sql = f'INSERT INTO "drop" ({columns}) VALUES ({marks})'
    if on_insert is None:
        durable_write(lambda: db.execute_sql(sql, list(values.values())))
        return

    def insert_with_companion() -> None:
        with db.atomic():  # a savepoint inside SQLite's group commit, a transaction on PG
            db.execute_sql(sql, list(values.values()))
            on_insert()

    durable_write(insert_with_companion)


def find_drop(token: str) -> Drop | None:
    # Hand-written SQL and a row turned into a Drop by hand: this runs for every request
    # the download fast path does not serve (404s, 410s, passwords), and building the
    # statement or peewee's result wrapper costs more than the query.
    cursor = db.execute_sql(f'SELECT * FROM "drop" WHERE "token" = {db.param}', (token,))
    row = cursor.fetchone()
    if row is None:
        return None
    fields = [Drop._meta.columns[column[0]] for column in cursor.description]
    return Drop(
        **{field.name: field.python_value(value) for field, value in zip(fields, row, strict=True)}
    )


def claim_download(
    token: str, now: datetime.datetime, *, unprotected_only: bool = False
) -> ClaimedDrop | None:
    """Count one download and return the drop as it is after it, or None if none is left.

    One conditional UPDATE … RETURNING: the database serialises concurrent claims on
    the row, so no number of simultaneous requests can exceed max_downloads. On
    PostgreSQL the claim, the download event and the read of the row are one statement
    (one round trip, atomic on its own); SQLite runs two, in a transaction shared with
    other threads' writes (drop.group_commit).

    `unprotected_only` claims only a drop without a password: a download can then be
    served without reading the row first.
    """
    params = [DOWNLOADED, now, token, LIVE, now]
    claim = _claim_sql(unprotected_only)
    if isinstance(db.obj, peewee.SqliteDatabase):
        return durable_write(lambda: _claim_and_count(claim, params, now))
    sql = f"""WITH claimed AS ({claim}),
        counted AS (INSERT INTO "download_event" ("downloaded_at") SELECT {db.param} FROM claimed)
        SELECT * FROM claimed"""
    return _claimed(db.execute_sql(sql, [*params, now]).fetchone())


def _claim_and_count(claim_sql: str, params: list, now: datetime.datetime) -> ClaimedDrop | None:
    claimed = _claimed(db.execute_sql(claim_sql, params).fetchone())
    if claimed is not None:
        db.execute_sql(
            f'INSERT INTO "download_event" ("downloaded_at") VALUES ({db.param})', (now,)
        )
    return claimed


def _claimed(row: tuple | None) -> ClaimedDrop | None:
    return None if row is None else ClaimedDrop(*row)


def _claim_sql(unprotected_only: bool) -> str:
    p = db.param
    used_up = '"downloads" + 1 >= "max_downloads"'
    return f"""UPDATE "drop" SET
            "downloads" = "downloads" + 1,
            "status" = CASE WHEN {used_up} THEN {p} ELSE "status" END,
            "gone_at" = CASE WHEN {used_up} THEN {p} ELSE "gone_at" END
        WHERE "token" = {p} AND "status" = {p} AND "downloads" < "max_downloads"
            AND "expires_at" > {p}{' AND "password_hash" IS NULL' if unprotected_only else ""}
        RETURNING {CLAIMED_COLUMNS}"""


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


def erase_uploaders(
    now: datetime.datetime,
    retention_seconds: int,
    batch_size: int = UPLOADER_ERASE_BATCH,
    max_batches: int = UPLOADER_ERASE_MAX_BATCHES,
) -> int:
    """Forget the uploader of every drop created more than `retention_seconds` ago, live or
    not; return how many rows were cleared.

    In batches of `batch_size` rows, one short statement each, at most `max_batches` per
    call: a backlog (a retention just shortened) is worked off over several sweeps instead
    of in one long lock. The partial index of migration 0006 holds only rows that still
    have an address, so each batch reads just the rows it clears.
    """
    p = db.param
    sql = f"""UPDATE "drop" SET "uploader_address" = NULL, "uploader_agent" = NULL
        WHERE "id" IN (SELECT "id" FROM "drop"
            WHERE "uploader_address" IS NOT NULL AND "created_at" <= {p} LIMIT {p})"""
    cutoff = now - datetime.timedelta(seconds=retention_seconds)
    erased = 0
    for _ in range(max_batches):
        with db.atomic():
            cleared = db.execute_sql(sql, (cutoff, batch_size)).rowcount
        erased += cleared
        if cleared < batch_size:
            break
    return erased


def sweep(
    storage: BlobStorage,
    now: datetime.datetime,
    grace_seconds: int = 0,
    uploader_retention: int | None = None,
) -> SweepReport:
    """Expire due drops and remove every blob that no live drop needs, plus stale temp files;
    forget uploaders older than `uploader_retention` seconds (None: leave them).

    A drop that went away less than `grace_seconds` ago keeps its blob: a proxy serving
    its last download (X-Accel-Redirect) may not have opened the file yet.
    """
    report = SweepReport(expired=expire_due(now))
    if uploader_retention is not None:
        report.uploaders_erased = erase_uploaders(now, uploader_retention)
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
