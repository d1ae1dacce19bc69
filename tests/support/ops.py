"""Helpers for the operator-tool tests: planting drops, blobs and heartbeats directly."""

from __future__ import annotations

import datetime
import os

from typer.testing import CliRunner

from drop import crypto
from drop.cli import cli
from drop.db.models import LIVE, Drop
from drop.storage.local import LocalStorage
from tests.support.common import drop_env

DAY = datetime.timedelta(days=1)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def run_cli(config, *args: str, input: str | None = None, **env):
    """Invoke drop-ops in-process with `config` as its environment."""
    return CliRunner().invoke(cli, list(args), env=drop_env(config, **env), input=input)


def plant_drop(
    config,
    content: bytes | None = b"planted\n",
    *,
    status: str = LIVE,
    age: datetime.timedelta = datetime.timedelta(minutes=5),
    lifetime: datetime.timedelta = DAY,
    gone_ago: datetime.timedelta | None = None,
    filename: str = "planted.txt",
    downloads: int = 0,
    max_downloads: int = 1,
) -> Drop:
    """A drop row created `age` ago, with its blob on disk unless `content` is None."""
    created = now() - age
    token = crypto.new_token()
    size = len(content or b"")
    if content is not None:
        path = LocalStorage(config.data_dir).path_for(token)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return Drop.create(
        token=token,
        filename=filename,
        content_type="text/plain",
        size=size,
        sha256="0" * 64,
        delete_token_hash="0" * 64,
        created_at=created,
        expires_at=created + lifetime,
        max_downloads=max_downloads,
        downloads=downloads,
        status=status,
        gone_at=now() - gone_ago if gone_ago is not None else None,
        # A gone drop without its blob: the worker deleted it and said so (migration 0010).
        blob_deleted_at=now() - gone_ago if content is None and gone_ago is not None else None,
    )


def blob_exists(config, token: str) -> bool:
    return LocalStorage(config.data_dir).exists(token)


def plant_orphan_blob(config, content: bytes = b"orphan", age_seconds: int = 3600) -> str:
    """A blob no row knows, old enough that it cannot be an upload in flight."""
    token = crypto.new_token()
    path = LocalStorage(config.data_dir).path_for(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    past = path.stat().st_mtime - age_seconds
    os.utime(path, (past, past))
    return token


def refuse_audit_inserts(database) -> None:
    """Make the database refuse every new audit event (a trigger), as a failing insert would."""
    if database.__class__.__name__.startswith("Sqlite"):
        database.execute_sql(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit inserts refused'); END"
        )
        return
    database.execute_sql(
        "CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit inserts refused'; END $$ LANGUAGE plpgsql"
    )
    database.execute_sql(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
    )
