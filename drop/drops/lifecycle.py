"""What can happen to a drop: created, claimed, ended early, expired, swept."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from drop import crypto
from drop.clock import naive_utc_epoch
from drop.db import statements
from drop.db.group_commit import durable_write
from drop.db.models import (
    DOWNLOADED,
    EXPIRED,
    LIVE,
    MAX_ADDRESS_CHARS,
    MAX_AGENT_CHARS,
    REVOKED,
    SCAN_PENDING,
    Drop,
    db,
)
from drop.drops import resume_grants
from drop.drops.tallies import fold_tally
from drop.protection.blocks import CONTENT
from drop.storage import BlobStorage, StoredBlob, TempBlob

log = logging.getLogger(__name__)


# An upload renames its blob into place a moment before its row commits; a blob with
# no row younger than this may be one of those, so the sweep leaves it alone.
ORPHAN_GRACE_SECONDS = 15 * 60
# An upload still receiving bytes keeps touching its temp file.
STALE_TEMP_SECONDS = 60 * 60
# The sweep's rows per statement: its memory is one batch of tokens, whatever the backlog.
SWEEP_BATCH = 1000
# Uploader erasure (erase_uploaders): rows per statement, statements per sweep.
UPLOADER_ERASE_BATCH = 1000
UPLOADER_ERASE_MAX_BATCHES = 100


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


class ContentBlocked(Exception):
    """The upload's content is blocked (drop.protection.blocks): its row was not inserted."""


@dataclass
class SweepReport:
    """What one sweep did, as counts: the sweep holds one batch of tokens at a time."""

    expired: int = 0
    blobs_deleted: int = 0  # blobs that were there to delete
    uploaders_erased: int = 0
    batches: int = 0  # statements that selected or changed a batch of rows


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
    scan_status: str | None = None,
) -> NewDrop:
    """Move an upload into place, then commit its row: no row ever points at a partial blob.

    `scan_status` is the row's first malware scan state (drop.protection.scans.initial_status): a
    row that must wait for its scan is committed already waiting.

    `uploader_address` and `uploader_agent` are kept for the operator until
    erase_uploaders clears them; without an address no agent is kept either, since the
    address is what marks a row as still holding its uploader.

    `password_hash` is used when there is no `password` (hashed earlier, when the upload
    began). `on_insert(new_drop)` runs in the row's transaction: what it writes commits with
    the row, and if it raises, neither is kept (and the blob is removed again).
    """
    if not uploader_address:
        uploader_agent = None
    token = temp.token  # chosen when the upload arrived: on S3 it names the object already
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
        scan_status=scan_status,
        # Its scan is queued as soon as the row commits.
        scan_queued_at=now if scan_status == SCAN_PENDING else None,
    )
    new = NewDrop(drop, delete_token)
    storage.commit(temp)
    try:
        _insert_row(drop, on_insert and (lambda: on_insert(new)))
    except BaseException:
        storage.discard(temp)
        raise
    return new


def _insert_row(drop: Drop, on_insert: Callable[[], None] | None = None) -> None:
    """Insert the row unless its content is blocked (ContentBlocked): the content check
    and the INSERT are one statement, one round trip to the database, not two."""
    # One statement, committed on its own (peewee runs in autocommit outside atomic()):
    # one round trip instead of BEGIN, INSERT and COMMIT, and no statement building
    # (prepared on PostgreSQL, drop.db.statements).
    values = {
        field.column_name: getattr(drop, name)
        for name, field in Drop._meta.fields.items()
        if name != "id"
    }
    columns = ", ".join(f'"{name}"' for name in values)
    marks = ", ".join([db.param] * len(values))
    sql = (
        f'INSERT INTO "drop" ({columns}) SELECT {marks} WHERE NOT EXISTS '
        f'(SELECT 1 FROM "block" WHERE "kind" = {db.param} AND "value" = {db.param})'
    )
    params = [*values.values(), CONTENT, drop.sha256]

    def insert() -> None:
        if statements.execute("drop_insert_unblocked", sql, params).rowcount == 0:
            raise ContentBlocked()

    if on_insert is None:
        durable_write(insert)
        return

    def insert_with_companion() -> None:
        with db.atomic():  # a savepoint inside SQLite's group commit, a transaction on PG
            insert()  # unprepared inside the transaction (drop.db.statements)
            on_insert()

    durable_write(insert_with_companion)


def find_drop(token: str) -> Drop | None:
    # Hand-written: this runs for every request the download fast path does not serve
    # (404s, 410s, passwords).
    sql = f'SELECT {statements.columns(Drop)} FROM "drop" WHERE "token" = {db.param}'
    return statements.first_row(Drop, "drop_find", sql, (token,))


def claim_download(
    token: str,
    now: datetime.datetime,
    *,
    unprotected_only: bool = False,
    scanned_only: bool = False,
    granted: bool = False,
) -> ClaimedDrop | None:
    """Count one download and return the drop as it is after it, or None if none is left.

    One conditional UPDATE … RETURNING: the database serialises concurrent claims on
    the row, so no number of simultaneous requests can exceed max_downloads. On
    PostgreSQL the claim, the download event and the read of the row are one statement
    (one round trip, atomic on its own); SQLite runs two, in a transaction shared with
    other threads' writes (drop.db.group_commit).

    `unprotected_only` claims only a drop without a password: a download can then be
    served without reading the row first. A drop whose content is blocked (drop.protection.blocks)
    is never claimed: the check is in the same statement, one index lookup, so no block
    added a moment before can be raced past. `scanned_only` (DROP_SCAN_MODE=hold) claims
    only a drop whose malware scan is not pending. `granted`: the download carries a
    resume ETag, and the same statement writes its `resume_grant` row (drop.drops.resume_grants),
    which keeps the blob until this download has sent its last byte.
    """
    params = [DOWNLOADED, now, token, LIVE, now]
    claim = _claim_sql(unprotected_only, scanned_only)
    if isinstance(db.obj, peewee.SqliteDatabase):
        return durable_write(lambda: _claim_and_count(claim, params, now, granted))
    p = db.param
    grant = (
        f""", granted AS (INSERT INTO "resume_grant" ("token", "number", "granted_at")
            SELECT "token", "downloads", {p} FROM claimed)"""
        if granted
        else ""
    )
    sql = f"""WITH claimed AS ({claim}),
        counted AS (INSERT INTO "download_event" ("downloaded_at") SELECT {p} FROM claimed)
        {grant}
        SELECT * FROM claimed"""
    name = f"drop_claim_{int(unprotected_only)}{int(scanned_only)}{int(granted)}"
    extra = [now, now] if granted else [now]
    return _claimed(statements.execute(name, sql, [*params, *extra]).fetchone())


def _claim_and_count(
    claim_sql: str, params: list, now: datetime.datetime, granted: bool
) -> ClaimedDrop | None:
    claimed = _claimed(db.execute_sql(claim_sql, params).fetchone())
    if claimed is not None:
        db.execute_sql(
            f'INSERT INTO "download_event" ("downloaded_at") VALUES ({db.param})', (now,)
        )
        if granted:
            db.execute_sql(
                'INSERT INTO "resume_grant" ("token", "number", "granted_at") '
                f"VALUES ({db.param}, {db.param}, {db.param})",
                (claimed.token, claimed.downloads, now),
            )
    return claimed


def _claimed(row: tuple | None) -> ClaimedDrop | None:
    return None if row is None else ClaimedDrop(*row)


def _claim_sql(unprotected_only: bool, scanned_only: bool = False) -> str:
    p = db.param
    used_up = '"downloads" + 1 >= "max_downloads"'
    conditions = ' AND "password_hash" IS NULL' if unprotected_only else ""
    if scanned_only:
        conditions += f""" AND ("scan_status" IS NULL OR "scan_status" <> '{SCAN_PENDING}')"""
    return f"""UPDATE "drop" SET
            "downloads" = "downloads" + 1,
            "status" = CASE WHEN {used_up} THEN {p} ELSE "status" END,
            "gone_at" = CASE WHEN {used_up} THEN {p} ELSE "gone_at" END
        WHERE "token" = {p} AND "status" = {p} AND "downloads" < "max_downloads"
            AND "expires_at" > {p}{conditions}
            AND NOT EXISTS (SELECT 1 FROM "block"
                WHERE "block"."kind" = 'content' AND "block"."value" = "drop"."sha256")
        RETURNING {CLAIMED_COLUMNS}"""


def end_drop(token: str, status: str, now: datetime.datetime) -> bool:
    """Make a drop gone now (deleted or revoked): a live one, or one used up by its
    downloads whose blob is still kept for a resume (which this ends); False if it was
    neither."""
    with db.atomic():
        changed = (
            Drop.update(status=status, gone_at=now)
            .where(
                (Drop.token == token)
                & (
                    (Drop.status == LIVE)
                    | ((Drop.status == DOWNLOADED) & Drop.blob_deleted_at.is_null())
                )
            )
            .execute()
        )
    return changed == 1


def revoke_drop(storage: BlobStorage, token: str, now: datetime.datetime) -> bool:
    """An operator's revocation: the drop is gone now (410) and its blob deleted, whatever
    its state was; True if it was live, or used up but still held for a resume (ended)."""
    was_live = end_drop(token, REVOKED, now)
    delete_blob(storage, token, now)
    return was_live


def expire_due(now: datetime.datetime, batch_size: int = SWEEP_BATCH) -> tuple[int, int]:
    """Mark every live drop past its expiry as expired, `batch_size` rows at a time;
    return (drops expired, batches).

    Each batch is found through the (status, expires_at) index and only its ids leave the
    database, so marking half a million drops holds no more memory than marking ten. The
    update tests `status` again: a drop claimed meanwhile is not expired as well.
    """
    p = db.param
    due = f"""SELECT "id" FROM "drop" WHERE "status" = {p} AND "expires_at" <= {p}
        ORDER BY "expires_at" LIMIT {p}"""
    expired = batches = 0
    while ids := _ids(due, (LIVE, now, batch_size)):
        batches += 1
        expired += _update_ids(
            f'"status" = {p}, "gone_at" = {p}', (EXPIRED, now), ids, f'"status" = {p}', (LIVE,)
        )
        if len(ids) < batch_size:
            break
    return expired, batches


def _ids(sql: str, params: tuple) -> list[int]:
    # A batch is selected, then updated by id, rather than updated in one statement with
    # a subquery: a sweep with nothing to do then runs no UPDATE at all (each one fires
    # the tally's trigger), and the ORDER BY in each query walks its index from the
    # first row due and stops at the limit, whatever the table's statistics say (a stale
    # estimate made PostgreSQL scan the whole table for an empty batch).
    return [row[0] for row in db.execute_sql(sql, params).fetchall()]


def _update_ids(
    assignments: str, values: tuple, ids: list[int], condition: str = "1 = 1", checks=()
) -> int:
    marks = ", ".join([db.param] * len(ids))
    sql = f'UPDATE "drop" SET {assignments} WHERE "id" IN ({marks}) AND {condition}'
    with db.atomic():
        return db.execute_sql(sql, (*values, *ids, *checks)).rowcount


def delete_gone_blobs(
    storage: BlobStorage,
    now: datetime.datetime,
    gone_before: datetime.datetime,
    batch_size: int = SWEEP_BATCH,
    *,
    resumable_after: datetime.datetime | None = None,
) -> tuple[int, int]:
    """Delete the blobs of drops gone before `gone_before`, a batch at a time; return
    (blobs that were there, batches). A drop used up by its downloads keeps its blob
    until `resumable_after` too, or its expiry if sooner: a download of it may still be
    resumed (drop/drops/grants.py). Most such blobs went long before, when their downloads
    completed (drop.drops.resume_grants); this is the fallback for those that were cut.

    The partial index of migration 0010 holds only gone drops whose blob is not yet
    deleted, so a sweep with nothing to do reads an empty index range and never asks
    storage anything. Blobs go first, then the mark: a crash in between only means the
    next sweep deletes them again, which finds nothing.
    """
    p = db.param
    deleted = batches = 0
    while True:
        rows = db.execute_sql(
            f"""SELECT "id", "token" FROM "drop" WHERE "blob_deleted_at" IS NULL
                AND "gone_at" IS NOT NULL AND "gone_at" <= {p}
                AND ("status" <> {p} OR "gone_at" <= {p} OR "expires_at" <= {p})
                ORDER BY "gone_at" LIMIT {p}""",
            (gone_before, DOWNLOADED, resumable_after or gone_before, gone_before, batch_size),
        ).fetchall()
        if not rows:
            return deleted, batches
        batches += 1
        deleted += len(storage.delete_many(token for _, token in rows))
        mark_blobs_deleted([row_id for row_id, _ in rows], now)
        if len(rows) < batch_size:
            return deleted, batches


def mark_blobs_deleted(ids: list[int], now: datetime.datetime) -> None:
    """Record that these drops' blobs are deleted, so no sweep looks at them again."""
    _update_ids(f'"blob_deleted_at" = {db.param}', (now,), ids)


def delete_blob(storage: BlobStorage, token: str, now: datetime.datetime) -> bool:
    """Delete a gone drop's blob now and mark it deleted; whether it was there."""
    existed = storage.delete(token)
    resume_grants.forget(token)
    with db.atomic():
        Drop.update(blob_deleted_at=now).where(
            (Drop.token == token) & (Drop.status != LIVE) & Drop.blob_deleted_at.is_null()
        ).execute()
    return existed


def erase_uploaders(
    now: datetime.datetime,
    retention_seconds: int,
    batch_size: int = UPLOADER_ERASE_BATCH,
    max_batches: int = UPLOADER_ERASE_MAX_BATCHES,
) -> int:
    """Forget the uploader of every drop created more than `retention_seconds` ago, live or
    not; return how many rows were cleared.

    In batches of `batch_size` rows (selected, then cleared by id), at most `max_batches` per
    call: a backlog (a retention just shortened) is worked off over several sweeps instead
    of in one long lock. The partial index of migration 0006 holds only rows that still
    have an address, so each batch reads just the rows it clears.
    """
    p = db.param
    held = f"""SELECT "id" FROM "drop" WHERE "uploader_address" IS NOT NULL
        AND "created_at" <= {p} ORDER BY "created_at" LIMIT {p}"""
    cutoff = now - datetime.timedelta(seconds=retention_seconds)
    erased = 0
    for _ in range(max_batches):
        ids = _ids(held, (cutoff, batch_size))
        if ids:
            erased += _update_ids('"uploader_address" = NULL, "uploader_agent" = NULL', (), ids)
        if len(ids) < batch_size:
            break
    return erased


def sweep(
    storage: BlobStorage,
    now: datetime.datetime,
    grace_seconds: int = 0,
    uploader_retention: int | None = None,
    resume_window: int = 0,
    batch_size: int = SWEEP_BATCH,
) -> SweepReport:
    """Expire due drops and delete the blobs of gone drops, in batches of `batch_size`;
    forget uploaders older than `uploader_retention` seconds (None: leave them).

    Its work is what changed since the last sweep, found through indexes: it never lists
    storage (reconciliation, a rarer task, does). A drop that went away less than
    `grace_seconds` ago keeps its blob: a proxy serving its last download
    (X-Accel-Redirect) may not have opened the file yet. One used up by its downloads
    keeps it `resume_window` seconds longer: its last download may be resumed until then
    (drop/drops/grants.py).
    """
    report = SweepReport()
    report.expired, statements = expire_due(now, batch_size)
    report.batches += statements
    if uploader_retention is not None:
        report.uploaders_erased = erase_uploaders(now, uploader_retention)
    gone_before = now - datetime.timedelta(seconds=grace_seconds)
    resumable_after = gone_before - datetime.timedelta(seconds=resume_window)
    report.blobs_deleted, batches = delete_gone_blobs(
        storage, now, gone_before, batch_size, resumable_after=resumable_after
    )
    report.batches += batches
    resume_grants.forget_expired(now - datetime.timedelta(seconds=resume_window))
    fold_tally(now)
    return report


def past_orphan_grace(modified: float, now: datetime.datetime) -> bool:
    """Whether a blob without a row is too old to be an upload about to commit its row."""
    return modified < naive_utc_epoch(now) - ORPHAN_GRACE_SECONDS


def delete_orphan_blob(storage: BlobStorage, blob: StoredBlob, now: datetime.datetime) -> bool:
    """Delete a blob found without a row, unless it is young or its row has appeared since.

    Callers list the store, then read rows; looking again right before deleting keeps an
    upload that committed in between.
    """
    if not past_orphan_grace(blob.modified, now):
        return False
    if Drop.select().where(Drop.token == blob.token).exists():
        return False
    return storage.delete(blob.token)
