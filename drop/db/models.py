"""A Drop is an uploaded file and the rules for giving it out; DownloadEvents time its downloads."""

from __future__ import annotations

import datetime

import peewee

from drop.db.database import (
    is_pooled,
    open_database,  # noqa: F401  (re-exported for callers)
)

db = peewee.DatabaseProxy()

LIVE = "live"
DOWNLOADED = "downloaded"  # the last permitted download was claimed
EXPIRED = "expired"
DELETED = "deleted"  # removed early by the uploader's delete token
REVOKED = "revoked"  # removed by an operator
INFECTED = "infected"  # clamd found malware in it (drop/protection/scans.py): never served again
STATUSES = (LIVE, DOWNLOADED, EXPIRED, DELETED, REVOKED, INFECTED)
# Drop.scan_status (migration 0013); NULL: stored while scanning was off.
SCAN_PENDING = "pending"
SCAN_CLEAN = "clean"
SCAN_INFECTED = "infected"
SCAN_TOO_LARGE = "too_large"  # larger than DROP_SCAN_MAX_BYTES: never sent to clamd
MAX_SIGNATURE_CHARS = 255
# Drop.id is PostgreSQL's `serial`, a 32-bit integer; no larger id can name a row.
MAX_DROP_ID = 2**31 - 1
# The widths of the uploader columns (migration 0006).
MAX_ADDRESS_CHARS = 64
MAX_AGENT_CHARS = 512


class Drop(peewee.Model):
    token = peewee.FixedCharField(max_length=32, unique=True)
    filename = peewee.TextField()
    content_type = peewee.CharField(max_length=255)
    size = peewee.BigIntegerField()
    sha256 = peewee.FixedCharField(max_length=64)
    password_hash = peewee.TextField(null=True)
    delete_token_hash = peewee.FixedCharField(max_length=64)
    created_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField()
    max_downloads = peewee.IntegerField(default=1)
    downloads = peewee.IntegerField(default=0)
    status = peewee.CharField(max_length=16, default=LIVE)
    gone_at = peewee.DateTimeField(null=True)
    # Who uploaded it (migration 0006), for the operator only; NULL once
    # DROP_UPLOADER_RETENTION has passed, and never set when it is 0.
    uploader_address = peewee.CharField(max_length=MAX_ADDRESS_CHARS, null=True)
    uploader_agent = peewee.CharField(max_length=MAX_AGENT_CHARS, null=True)
    # Its malware scan (migration 0013, drop/protection/scans.py); all NULL while scanning is off.
    scan_status = peewee.CharField(max_length=16, null=True)
    scan_queued_at = peewee.DateTimeField(null=True)  # the last time a scan was queued
    scanned_at = peewee.DateTimeField(null=True)
    scan_signature = peewee.CharField(max_length=MAX_SIGNATURE_CHARS, null=True)  # what clamd found
    # When the blob was deleted (migration 0010); NULL while storage holds it.
    blob_deleted_at = peewee.DateTimeField(null=True)

    class Meta:
        database = db
        table_name = "drop"
        indexes = ((("status", "expires_at"), False), (("gone_at",), False))

    @property
    def downloads_left(self) -> int:
        return max(self.max_downloads - self.downloads, 0)

    def is_available(self, now) -> bool:
        return self.status == LIVE and self.expires_at > now and self.downloads_left > 0


class DownloadEvent(peewee.Model):
    """When one download was granted (migration 0002); only statistics read it."""

    downloaded_at = peewee.DateTimeField(index=True)

    class Meta:
        database = db
        table_name = "download_event"


class DropTally(peewee.Model):
    """Drops and bytes per status and whether storage still holds their blobs (migration 0010).

    Triggers on `drop` add a row per change; drop.drops.tallies.fold_tally sums them up now
    and then.
    Reading the figures is a sum over a handful of rows, whatever the number of drops.
    """

    status = peewee.CharField(max_length=16)
    holds_blob = peewee.BooleanField()
    drops = peewee.BigIntegerField()
    bytes = peewee.BigIntegerField()

    class Meta:
        database = db
        table_name = "drop_tally"


class HourlyTally(peewee.Model):
    """Uploads and downloads per hour (migration 0010), kept like DropTally by triggers.

    `kind` is UPLOADS or DOWNLOADS; `hour` the start of the hour (naive UTC).
    """

    kind = peewee.CharField(max_length=16)
    hour = peewee.DateTimeField()
    count = peewee.BigIntegerField()

    class Meta:
        database = db
        table_name = "hourly_tally"


UPLOADS = "upload"
DOWNLOADS = "download"


class MultipartUpload(peewee.Model):
    """An S3 multipart upload in flight (migration 0009), deleted when it completes or aborts.

    `touched_at` moves with every part sent: a reconciliation aborts only uploads that
    have shown no sign of life for long (drop.storage.s3).
    """

    upload_id = peewee.TextField(unique=True)
    key = peewee.TextField()
    started_at = peewee.DateTimeField()
    touched_at = peewee.DateTimeField()

    class Meta:
        database = db
        table_name = "multipart_upload"


class TusPart(peewee.Model):
    """A part of a resumable upload's S3 multipart upload (migration 0016), sent and
    acknowledged by the store: any node continues the upload from these rows."""

    tus_upload_id = peewee.FixedCharField(max_length=32)
    part_number = peewee.IntegerField()
    etag = peewee.TextField()
    size = peewee.BigIntegerField()

    class Meta:
        database = db
        table_name = "tus_part"
        primary_key = peewee.CompositeKey("tus_upload_id", "part_number")


# A tus upload's status (drop/tus/records.py).
RECEIVING = "receiving"
COMPLETE = "complete"  # the drop exists: `drop_token`
TERMINATED = "terminated"  # the client's DELETE


class TusUpload(peewee.Model):
    """One resumable upload (migration 0007); drop/tus/records.py is what happens to it."""

    id = peewee.FixedCharField(max_length=32, primary_key=True)  # 128 random bits, hex
    upload_length = peewee.BigIntegerField()
    upload_offset = peewee.BigIntegerField()
    metadata = peewee.TextField()  # Upload-Metadata as sent, less SECRET_KEYS
    filename = peewee.TextField()
    content_type = peewee.CharField(max_length=255)
    password_hash = peewee.TextField(null=True)
    expires_in = peewee.IntegerField()  # the drop's, once it exists
    max_downloads = peewee.IntegerField()
    storage_key = peewee.TextField()  # where drop.tus.partials keeps the bytes
    status = peewee.CharField(max_length=16)
    created_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField(index=True)  # of this record
    lease_owner = peewee.FixedCharField(max_length=32, null=True)
    lease_until = peewee.DateTimeField(null=True)
    drop_token = peewee.FixedCharField(max_length=32, null=True)
    # The drop's delete token, so that GET can repeat the upload's answer until this
    # record expires (the drop keeps only its hash).
    delete_token = peewee.FixedCharField(max_length=32, null=True)
    # The API token (drop/protection/uploaders.py) the upload was admitted with; None: anonymous.
    # Not a foreign key: a token is never deleted, and its completion needs only its id.
    api_token_id = peewee.IntegerField(null=True)

    class Meta:
        database = db
        table_name = "tus_upload"

    def is_gone(self, now: datetime.datetime) -> bool:
        return self.status == TERMINATED or self.expires_at <= now


def give_back_connection() -> None:
    """Return a pooled (PostgreSQL) connection while a request's bytes arrive, for as long
    as the client takes; the next query takes one again. (SQLite keeps one per thread.)"""
    if is_pooled(db.obj) and not db.is_closed():
        db.close()


def init_database(url: str, *, pooled: bool = False) -> peewee.Database:
    """Point the shared proxy at the database behind `url` and return it."""
    database = open_database(url, pooled=pooled)
    db.initialize(database)
    return database
