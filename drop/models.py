"""A Drop is an uploaded file and the rules for giving it out; DownloadEvents time its downloads."""

from __future__ import annotations

from urllib.parse import urlparse

import peewee
from playhouse import db_url

db = peewee.DatabaseProxy()

LIVE = "live"
DOWNLOADED = "downloaded"  # the last permitted download was claimed
EXPIRED = "expired"
DELETED = "deleted"  # removed early by the uploader's delete token
REVOKED = "revoked"  # removed by an operator
STATUSES = (LIVE, DOWNLOADED, EXPIRED, DELETED, REVOKED)
# Drop.id is PostgreSQL's `serial`, a 32-bit integer; no larger id can name a row.
MAX_DROP_ID = 2**31 - 1


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


def open_database(url: str) -> peewee.Database:
    """A Peewee database for a sqlite:// or postgresql:// URL."""
    if urlparse(url).scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url[len("sqlite://") :]
        # WAL lets downloads read while an upload commits; busy_timeout makes
        # concurrent gunicorn workers wait for the write lock instead of failing.
        return peewee.SqliteDatabase(
            path,
            pragmas={"journal_mode": "wal", "busy_timeout": 10_000, "synchronous": "normal"},
        )
    return db_url.connect(url)


def init_database(url: str) -> peewee.Database:
    """Point the shared proxy at the database behind `url` and return it."""
    database = open_database(url)
    db.initialize(database)
    return database
