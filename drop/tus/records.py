"""Resumable uploads (tus 1.0): the upload records, who may write to one, and their expiry.

An upload's state is a row of `tus_upload` (migration 0007), never a web process's memory,
so any worker on any machine can take its next PATCH. A request writes to an upload only
while it holds the upload's lease: one conditional UPDATE claims it (the upload still
receiving, at the offset the request names, and no other lease running), so of two
PATCHes at once one wins and the other is answered 409, across processes and on SQLite
and PostgreSQL alike. A lease runs out by itself if its process dies; a request renews it
while the body keeps arriving. The completing request turns the upload into a drop and
marks the row complete in the same transaction as the drop's row.

The bytes themselves are kept by drop.tus.partials: on this node's disk, or with
DROP_STORAGE=s3 in the bucket (drop.tus.s3_partials), where every node finds them.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import secrets
import time
from collections.abc import Callable

import peewee

from drop.db.database import UNAVAILABLE_ERRORS
from drop.db.group_commit import durable_write
from drop.db.models import COMPLETE, RECEIVING, TERMINATED, TusUpload, db, give_back_connection
from drop.drops.lifecycle import NewDrop, past_orphan_grace
from drop.refusals import Conflict, Gone, Invalid, NotFound, Refused
from drop.storage import StorageUnavailable
from drop.tus.partials import PartialStore

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "expiration", "termination")
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"

NO_SUCH_UPLOAD = "there is no upload with this id; create one with POST"

# Metadata keys drop reads; others are kept (and echoed) but mean nothing to drop.
OPTION_KEYS = ("password", "expires_in", "max_downloads")
# Echoed to HEAD with the rest of the metadata it came in? Never: only a hash is kept.
SECRET_KEYS = ("password",)
MAX_METADATA_PAIRS = 32

# Expired uploads the sweep removes per statement, and statements per sweep.
SWEEP_BATCH = 500
SWEEP_MAX_BATCHES = 20


def parse_metadata(header: str | None) -> dict[str, bytes]:
    """Upload-Metadata: `key base64value` pairs separated by commas; 400 for anything else.

    Keys are printable ASCII without spaces or commas, each at most once; a value may be
    left out (the key alone). Values are bytes: the caller decides what text they hold.
    """
    metadata: dict[str, bytes] = {}
    if header is None or not header.strip():
        return metadata
    pairs = header.split(",")
    if len(pairs) > MAX_METADATA_PAIRS:
        raise _bad_metadata(f"at most {MAX_METADATA_PAIRS} keys")
    for pair in pairs:
        key, _, value = pair.strip().partition(" ")
        if not key or not key.isascii() or not key.isprintable() or " " in value:
            raise _bad_metadata("each pair is a key, a space and a base64 value")
        if key in metadata:
            raise _bad_metadata(f"the key {key!r} appears twice")
        try:
            metadata[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_metadata(f"the value of {key!r} is not base64") from None
    return metadata


def _bad_metadata(why: str) -> Invalid:
    return Invalid(description=f"Upload-Metadata is malformed: {why}")


def metadata_text(metadata: dict[str, bytes], key: str, *, strict: bool) -> str | None:
    """A metadata value as text: UTF-8, or 400 when `strict` (an option must say what the
    uploader meant); a name or type is kept leniently, as a form's filename is."""
    value = metadata.get(key)
    if value is None:
        return None
    try:
        return value.decode("utf-8", "strict" if strict else "replace")
    except UnicodeDecodeError:
        raise Invalid(
            description=f"Upload-Metadata: the value of {key!r} must be UTF-8 text"
        ) from None


def public_metadata(header: str | None) -> str:
    """The Upload-Metadata to store and echo in HEAD answers: as sent, less the password."""
    pairs = [pair.strip() for pair in (header or "").split(",") if pair.strip()]
    return ",".join(pair for pair in pairs if pair.partition(" ")[0] not in SECRET_KEYS)


def find_upload(upload_id: str) -> TusUpload | None:
    return TusUpload.get_or_none(TusUpload.id == upload_id)


def usable_upload(upload_id: str, now: datetime.datetime) -> TusUpload:
    """The upload, or 404 (never was, or swept since) or 410 (terminated or expired)."""
    upload = find_upload(upload_id)
    if upload is None:
        raise NotFound(NO_SUCH_UPLOAD)
    if upload.is_gone(now):
        raise Gone(description="this upload was terminated or has expired")
    return upload


def create_upload(
    partials: PartialStore,
    *,
    length: int,
    metadata: str,
    filename: str,
    content_type: str,
    password_hash: str | None,
    expires_in: int,
    max_downloads: int,
    clock: Callable[[], datetime.datetime],
    expires_in_seconds: int,
    lease_seconds: int | None = None,
    api_token_id: int | None = None,
) -> tuple[TusUpload, Lease | None]:
    """A new, empty upload, and its lease when `lease_seconds` is given (a creation that
    carries bytes, or an empty file that is complete at once).

    The file comes first: a row never names bytes that are not there. A file whose row
    never committed is removed by the sweep.
    """
    now = clock()
    upload_id = secrets.token_hex(16)
    key = partials.create(upload_id)
    owner = secrets.token_hex(16) if lease_seconds else None
    upload = TusUpload(
        id=upload_id,
        upload_length=length,
        upload_offset=0,
        metadata=metadata,
        filename=filename,
        content_type=content_type,
        password_hash=password_hash,
        expires_in=expires_in,
        max_downloads=max_downloads,
        storage_key=key,
        status=RECEIVING,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=expires_in_seconds),
        lease_owner=owner,
        lease_until=now + datetime.timedelta(seconds=lease_seconds) if owner else None,
        api_token_id=api_token_id,
    )
    try:
        durable_write(lambda: upload.save(force_insert=True))
    except BaseException:
        partials.delete(key)
        raise
    lease = Lease(upload, owner, lease_seconds, clock) if owner else None
    return upload, lease


class Lease:
    """The right to write to one upload, held by one request; see the module's docstring.

    Use as a context manager: a lease not given up by `record` or `completed` is
    released on the way out, whatever happened.
    """

    def __init__(self, upload: TusUpload, owner: str, seconds: int, clock: Callable):
        self.upload = upload
        self._owner = owner
        self._seconds = seconds
        self._clock = clock
        self._renewed = time.monotonic()
        self._held = True

    @classmethod
    def claim(cls, upload: TusUpload, offset: int, seconds: int, clock: Callable) -> Lease:
        """Take the upload for a request writing at `offset`; 409 or 410 when it cannot."""
        now = clock()
        owner = secrets.token_hex(16)
        claimed = durable_write(
            lambda: (
                TusUpload.update(
                    lease_owner=owner, lease_until=now + datetime.timedelta(seconds=seconds)
                )
                .where(
                    (TusUpload.id == upload.id)
                    & (TusUpload.status == RECEIVING)
                    & (TusUpload.upload_offset == offset)
                    & (TusUpload.expires_at > now)
                    & (TusUpload.lease_until.is_null() | (TusUpload.lease_until <= now))
                )
                .execute()
            )
        )
        if claimed != 1:
            raise _why_not_writable(upload.id, offset, now)
        return cls(upload, owner, seconds, clock)

    def keep_alive(self) -> None:
        """Renew the lease when a third of it has passed (a long body is still arriving)."""
        if time.monotonic() - self._renewed < self._seconds / 3:
            return
        now = self._clock()
        renewed = durable_write(
            lambda: (
                TusUpload.update(lease_until=now + datetime.timedelta(seconds=self._seconds))
                .where(self._mine())
                .execute()
            )
        )
        if renewed != 1:
            self._held = False
            raise _why_not_writable(self.upload.id, None, now)
        self._renewed = time.monotonic()
        give_back_connection()

    def record(self, offset: int, expires_at: datetime.datetime) -> None:
        """Acknowledge the bytes up to `offset` and give the upload back."""
        self._held = False
        now = self._clock()
        recorded = durable_write(
            lambda: (
                TusUpload.update(
                    upload_offset=offset, expires_at=expires_at, lease_owner=None, lease_until=None
                )
                .where(self._mine())
                .execute()
            )
        )
        if recorded != 1:
            raise _why_not_writable(self.upload.id, None, now)

    def completed(self, expires_at: datetime.datetime) -> Callable[[NewDrop], None]:
        """The write that marks the upload complete as `new`, for drops.create_drop to
        commit with the drop's row: both or neither."""

        def mark_complete(new: NewDrop) -> None:
            done = (
                TusUpload.update(
                    status=COMPLETE,
                    upload_offset=self.upload.upload_length,
                    drop_token=new.drop.token,
                    delete_token=new.delete_token,
                    expires_at=min(expires_at, new.drop.expires_at),
                    lease_owner=None,
                    lease_until=None,
                )
                .where(self._mine())
                .execute()
            )
            if done != 1:
                raise _why_not_writable(self.upload.id, None, self._clock())
            self._held = False

        return mark_complete

    def _mine(self) -> peewee.Expression:
        """The upload's row, while this lease holds it."""
        return (
            (TusUpload.id == self.upload.id)
            & (TusUpload.lease_owner == self._owner)
            & (TusUpload.status == RECEIVING)
        )

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc) -> None:
        if not self._held:
            return
        self._held = False
        try:
            durable_write(
                lambda: (
                    TusUpload.update(lease_owner=None, lease_until=None)
                    .where(self._mine())
                    .execute()
                )
            )
        except (peewee.DatabaseError, *UNAVAILABLE_ERRORS) as error:
            # The lease runs out by itself; the error that brought us here matters more.
            log.warning("tus: lease of an upload not released (%s); it will run out", error)


def _why_not_writable(upload_id: str, offset: int | None, now: datetime.datetime) -> Refused:
    upload = find_upload(upload_id)
    if upload is None:
        return NotFound(NO_SUCH_UPLOAD)
    if upload.is_gone(now):
        return Gone(description="this upload was terminated or has expired")
    if upload.status == COMPLETE:
        return Conflict(description="this upload is complete")
    if offset is not None and upload.upload_offset != offset:
        return Conflict(
            description=f"Upload-Offset is {offset}, but the upload is at {upload.upload_offset}"
        )
    return Conflict(description="another request is writing to this upload")


def terminate(upload_id: str, now: datetime.datetime) -> str | None:
    """End an upload at its client's request (tus termination); return the storage key of
    its bytes to delete, or None when it was already gone.

    A complete upload forgets its drop's delete token; the drop itself stays.
    """
    rows = durable_write(
        lambda: list(
            TusUpload.update(
                status=TERMINATED, lease_owner=None, lease_until=None, delete_token=None
            )
            .where(
                (TusUpload.id == upload_id)
                & (TusUpload.status != TERMINATED)
                & (TusUpload.expires_at > now)
            )
            .returning(TusUpload.storage_key)
            .execute()
        )
    )
    return rows[0].storage_key if rows else None


def sweep_expired(
    partials: PartialStore,
    now: datetime.datetime,
    batch_size: int = SWEEP_BATCH,
    max_batches: int = SWEEP_MAX_BATCHES,
) -> int:
    """Delete uploads past their expiry, rows and bytes, in batches of `batch_size` rows
    (at most `max_batches` a call; a backlog is worked off by the next sweeps). An upload
    whose lease still runs is left to the request writing to it. Returns the count."""
    p = db.param
    expired = f'"expires_at" <= {p} AND ("lease_until" IS NULL OR "lease_until" <= {p})'
    # The conditions again outside the subquery: PostgreSQL checks them anew on a row a
    # concurrent request has just leased.
    sql = f"""DELETE FROM "tus_upload" WHERE "id" IN (
            SELECT "id" FROM "tus_upload" WHERE {expired} LIMIT {p}) AND {expired}
        RETURNING "storage_key" """
    deleted = 0
    for _ in range(max_batches):
        with db.atomic():
            keys = [row[0] for row in db.execute_sql(sql, (now, now, batch_size, now, now))]
        for key in keys:
            try:
                partials.delete(key)
            except StorageUnavailable as error:  # the row is gone: the orphan sweep's now
                log.warning("tus: bytes of an expired upload not deleted (%s)", error)
        deleted += len(keys)
        if len(keys) < batch_size:
            break
    return deleted


def sweep_orphans(partials: PartialStore, now: datetime.datetime) -> int:
    """Delete the bytes no receiving upload needs: left by a crash between a row's change
    and the bytes' deletion, or by a creation whose row never committed (hence only what
    is older than drops.ORPHAN_GRACE_SECONDS). Returns the count."""
    keys = [key for key, modified in partials.listing() if past_orphan_grace(modified, now)]
    needed = set()
    for start in range(0, len(keys), SWEEP_BATCH):
        # A storage key starts with its upload's id (all of it, on local disk).
        chunk = [_upload_id_of(key) for key in keys[start : start + SWEEP_BATCH]]
        query = TusUpload.select(TusUpload.id).where(
            TusUpload.id.in_(chunk) & (TusUpload.status == RECEIVING)
        )
        needed.update(row.id for row in query)
    return sum(partials.delete(key) for key in keys if _upload_id_of(key) not in needed)


def _upload_id_of(storage_key: str) -> str:
    return storage_key.partition("/")[0]
