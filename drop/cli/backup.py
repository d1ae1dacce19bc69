"""`drop-ops backup` and `drop-ops restore`."""

from __future__ import annotations

from pathlib import Path

import typer

from drop.cli.common import (
    load_config,
)


def backup(
    dest: Path = typer.Argument(..., help="A new or empty directory to write the backup into."),
):
    """Back up the running service: database, local blobs and secret key.

    Safe while drop serves: the database is copied at one instant
    (SQLite's online backup, or pg_dump), then the blobs of the drops
    it holds. Unfinished resumable uploads are not included. With
    DROP_STORAGE=s3 the blobs stay in the bucket: back it up with the
    store's own tools. DEST holds every download token and the secret
    key: keep it private.
    """
    from drop.ops.backup import BackupError
    from drop.ops.backup import backup as make_backup

    try:
        make_backup(load_config(), dest, typer.echo)
    except BackupError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None


def restore(
    source: Path = typer.Argument(..., help="A directory written by drop-ops backup."),
):
    """Restore a backup into an empty data directory and database.

    Never overwrites: DROP_DATA_DIR must be new or empty, and so must
    the database of DROP_DATABASE_URL (on PostgreSQL, create it first).
    Drops whose blob is not in the backup are revoked, and unfinished
    resumable uploads ended. Then run drop-ops migrate and start drop.
    """
    from drop.ops.backup import BackupError
    from drop.ops.backup import restore as put_back

    try:
        put_back(load_config(), source, typer.echo)
    except BackupError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None
