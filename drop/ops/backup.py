"""`drop-ops backup` and `drop-ops restore`: a running service's data, copied and put back.

A backup is a directory:

    manifest.json   what it holds (written last: without it, the backup is incomplete)
    drop.sqlite3    the database (SQLite), or drop.pgdump (PostgreSQL, pg_dump's custom format)
    blobs/ab/<token> the blob of every drop whose blob storage held at the snapshot (local disk)
    secret_key      DROP_DATA_DIR/secret_key, when the service made one

The database is copied first and the blobs after it, so every drop of the snapshot whose
blob was still there is backed up whole. A blob deleted in between belonged to a drop used
up, expired or deleted after the snapshot: the backup counts it as missing, and restore ends
such a drop (revoked, its blob marked deleted), as `drop-ops purge --fix` would.

Not included: unfinished tus uploads (restore ends them; their clients start over), the
queue of background tasks, quarantined blobs, and the blobs of DROP_STORAGE=s3, which the
bucket's own versioning or replication must keep.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

from drop.config import Config
from drop.drops.server_key import KEY_FILE
from drop.ops import snapshots
from drop.ops.checks import redact_url
from drop.ops.snapshots import POSTGRESQL, SQLITE, SnapshotError
from drop.storage import LOCAL, blob_key
from drop.wording import human_bytes

MANIFEST = "manifest.json"
FORMAT = "drop-backup"
FORMAT_VERSION = 1
DATABASE_FILES = {SQLITE: "drop.sqlite3", POSTGRESQL: "drop.pgdump"}
BLOBS = "blobs"
PROGRESS_EVERY = 1000  # blobs between two progress lines
S3_NOTE = (
    "blobs are in the S3 bucket, not in this backup: back them up with the store's own tools "
    "(bucket versioning or replication)"
)

Report = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what to fix."""


@dataclass
class Manifest:
    """What a backup holds (manifest.json)."""

    created_at: str  # when the database snapshot began (UTC)
    database: str  # SQLITE or POSTGRESQL
    storage: str  # LOCAL or S3
    drops: int
    live_drops: int
    blobs: int  # copied into the backup
    blob_bytes: int
    blobs_missing: int  # held at the snapshot, deleted before they could be copied
    secret_key: bool
    # The installed distribution's version: pyproject.toml's `version`, the one source.
    drop_version: str = field(default_factory=lambda: version("drop"))
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    notes: list[str] = field(default_factory=list)

    @property
    def database_file(self) -> str:
        return DATABASE_FILES[self.database]


@dataclass
class BlobCopy:
    copied: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)


def backup(config: Config, dest: Path, report: Report) -> Manifest:
    """Copy the database, then the blobs it holds, then the secret key into the new `dest`."""
    _require_empty(dest, "backup destination")
    existed = dest.exists()
    try:
        return _back_up(config, dest, report)
    except (SnapshotError, OSError) as error:
        said = _os_error(error) if isinstance(error, OSError) else str(error)
        _remove_partial(dest, keep_dir=existed)
        raise BackupError(f"{said} (no backup was written)") from None


def _back_up(config: Config, dest: Path, report: Report) -> Manifest:
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds the key and every token
    started = datetime.datetime.now(datetime.UTC)
    url = config.effective_database_url
    kind = snapshots.database_kind(url)
    database_file = dest / DATABASE_FILES[kind]
    take = snapshots.sqlite_snapshot if kind == SQLITE else snapshots.postgres_snapshot
    with take(url, database_file) as snapshot:
        report(
            f"database: {database_file} ({human_bytes(database_file.stat().st_size)}), "
            f"{snapshot.drops} drops, {snapshot.live} live"
        )
        if config.storage == LOCAL:
            blobs = copy_blobs(snapshot.held_tokens(), config.blob_dir, dest / BLOBS, report)
        else:
            blobs = BlobCopy()
        drops, live = snapshot.drops, snapshot.live
    has_key = _copy_secret_key(config.data_dir / KEY_FILE, dest / KEY_FILE)
    manifest = Manifest(
        created_at=started.isoformat(timespec="seconds"),
        database=kind,
        storage=config.storage,
        drops=drops,
        live_drops=live,
        blobs=blobs.copied,
        blob_bytes=blobs.bytes,
        blobs_missing=len(blobs.missing),
        secret_key=has_key,
    )
    if config.storage == LOCAL:
        report(f"blobs: {blobs.copied} ({human_bytes(blobs.bytes)}) into {dest / BLOBS}")
        if blobs.missing:
            report(
                f"blobs: {len(blobs.missing)} deleted after the snapshot (their drops were "
                "used up or removed meanwhile); restore ends those drops"
            )
    else:
        manifest.notes.append(S3_NOTE)
        report(S3_NOTE)
    report(f"secret key: {dest / KEY_FILE}" if has_key else _key_note(config))
    # Everything on disk before the manifest says the backup is complete.
    os.sync()
    _write_manifest(dest / MANIFEST, manifest)
    report(f"manifest: {dest / MANIFEST} (the backup is complete)")
    return manifest


def _remove_partial(dest: Path, keep_dir: bool) -> None:
    # Only what this backup wrote is there: DEST was new or empty.
    if not keep_dir:
        shutil.rmtree(dest, ignore_errors=True)
    elif dest.is_dir():
        for entry in dest.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def copy_blobs(tokens: Iterable[str], blob_dir: Path, dest: Path, report: Report) -> BlobCopy:
    """Copy each token's blob from `blob_dir` into `dest`; a blob gone meanwhile is counted."""
    done = BlobCopy()
    for token in tokens:
        source, target = blob_dir / blob_key(token), dest / blob_key(token)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(source, target)  # opens the source first: a gone one leaves nothing
        except FileNotFoundError:
            done.missing.append(token)
            continue
        done.copied += 1
        done.bytes += target.stat().st_size
        if done.copied % PROGRESS_EVERY == 0:
            report(f"  {done.copied} blobs ({human_bytes(done.bytes)})")
    return done


def restore(config: Config, source: Path, report: Report) -> Manifest:
    """Put the backup in `source` into the configured data dir and database, both empty."""
    manifest = read_manifest(source)
    url = config.effective_database_url
    kind = snapshots.database_kind(url)
    if manifest.database != kind:
        raise BackupError(
            f"{source} holds a {manifest.database} database but DROP_DATABASE_URL is {kind}: "
            f"restore it with the same kind of database"
        )
    if manifest.storage != config.storage:
        raise BackupError(
            f"{source} was made with DROP_STORAGE={manifest.storage}, "
            f"but DROP_STORAGE is {config.storage} here"
        )
    _require_empty(config.data_dir, "data directory (DROP_DATA_DIR)")
    _require_empty_database(url, kind)
    try:
        _put_back(config, source, manifest, report)
    except (SnapshotError, OSError) as error:
        said = _os_error(error) if isinstance(error, OSError) else str(error)
        raise BackupError(
            f"{said} (the restore is incomplete: empty DROP_DATA_DIR and the database, "
            "then run it again)"
        ) from None
    return manifest


def _put_back(config: Config, source: Path, manifest: Manifest, report: Report) -> None:
    url = config.effective_database_url
    config.data_dir.mkdir(parents=True, exist_ok=True)
    database_file = source / manifest.database_file
    if manifest.database == SQLITE:
        _put_sqlite(database_file, snapshots.sqlite_path(url))
    else:
        snapshots.load_postgres(url, database_file)
    report(f"database: {manifest.drops} drops, {manifest.live_drops} live, from {database_file}")
    if manifest.storage == LOCAL:
        copied = _copy_tree(source / BLOBS, config.blob_dir)
        report(f"blobs: {copied.copied} ({human_bytes(copied.bytes)}) into {config.blob_dir}")
    else:
        report(S3_NOTE)
    if manifest.secret_key:
        _copy_secret_key(source / KEY_FILE, config.data_dir / KEY_FILE)
        report(f"secret key: {config.data_dir / KEY_FILE}")
    ended, uploads = _settle(config)
    if ended:
        report(f"drops without their blob in the backup: {ended} (marked so; revoked if live)")
    if uploads:
        report(f"ended {uploads} unfinished resumable uploads (not in the backup)")
    report("restored: run drop-ops migrate, then start drop")


def read_manifest(source: Path) -> Manifest:
    """The manifest of the backup in `source`, or BackupError if it is not a whole backup."""
    path = source / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{path} not found: {source} is not a complete drop backup") from None
    except (OSError, ValueError) as error:
        raise BackupError(f"{path} cannot be read: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError(f"{path} is not a drop backup manifest")
    if data.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is format version {data.get('format_version')}; "
            f"this drop reads version {FORMAT_VERSION}"
        )
    try:
        manifest = Manifest(**data)
    except TypeError as error:
        raise BackupError(f"{path} is not a drop backup manifest: {error}") from None
    if manifest.database not in DATABASE_FILES:
        raise BackupError(f"{path} names an unknown database {manifest.database!r}")
    if not (source / manifest.database_file).is_file():
        raise BackupError(f"{source / manifest.database_file} is missing from the backup")
    return manifest


def _os_error(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


def _require_empty(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"the {what} {path} is not empty: give a new or empty directory")


def _require_empty_database(url: str, kind: str) -> None:
    try:
        if kind == SQLITE:
            path = snapshots.sqlite_path(url)
            tables = snapshots.sqlite_tables(path) if path.exists() else 0
            where = str(path)
        else:
            tables = snapshots.postgres_tables(url)
            where = redact_url(url)
    except SnapshotError as error:
        raise BackupError(f"{error} (restore needs an existing, empty database)") from None
    if tables:
        raise BackupError(
            f"the database {where} is not empty ({tables} tables): restore only into a new, "
            "empty database"
        )


def _put_sqlite(snapshot: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(snapshot, temp)
    os.replace(temp, target)  # whole, or not there at all


def _copy_tree(source: Path, dest: Path) -> BlobCopy:
    done = BlobCopy()
    dest.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return done
    for shard in sorted(source.iterdir()):
        (dest / shard.name).mkdir(exist_ok=True)
        for blob in sorted(shard.iterdir()):
            shutil.copyfile(blob, dest / shard.name / blob.name)
            done.copied += 1
            done.bytes += blob.stat().st_size
    return done


def _copy_secret_key(source: Path, target: Path) -> bool:
    try:
        material = source.read_bytes()
    except FileNotFoundError:
        return False
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(material)
    return True


def _key_note(config: Config) -> str:
    if config.secret_key:
        return "secret key: DROP_SECRET_KEY is set; keep it with this backup yourself"
    return "secret key: none yet (DROP_DATA_DIR/secret_key is made on first use)"


def _write_manifest(path: Path, manifest: Manifest) -> None:
    temp = path.with_name(f".{path.name}.writing")
    temp.write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    os.replace(temp, path)


def _settle(config: Config) -> tuple[int, int]:
    """End what the restored database promises but the backup does not hold: drops
    without their blob, and unfinished resumable uploads on local disk."""
    if config.storage != LOCAL:
        return 0, 0  # the bucket holds both: it is restored, or not, on its own
    from drop.db.models import init_database

    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    database = init_database(config.effective_database_url)
    with database.connection_context():
        return end_unbacked_drops(config.blob_dir, now), end_unfinished_uploads()


def end_unbacked_drops(blob_dir: Path, now: datetime.datetime, batch: int = PROGRESS_EVERY) -> int:
    """Mark the blob of each drop deleted when `blob_dir` lacks it, and revoke the live ones
    among them (as `drop-ops purge --fix` does), a batch of rows at a time; how many."""
    from drop.db.models import LIVE, REVOKED, Drop, db

    ended = 0
    last = 0
    while True:
        rows = list(
            Drop.select(Drop.id, Drop.token, Drop.status)
            .where(Drop.blob_deleted_at.is_null() & (Drop.id > last))
            .order_by(Drop.id)
            .limit(batch)
            .tuples()
        )
        if not rows:
            return ended
        last = rows[-1][0]
        lost = [
            (i, status) for i, token, status in rows if not (blob_dir / blob_key(token)).is_file()
        ]
        if lost:
            with db.atomic():
                live = [i for i, status in lost if status == LIVE]
                if live:
                    Drop.update(status=REVOKED, gone_at=now).where(Drop.id.in_(live)).execute()
                ids = [i for i, _ in lost]
                Drop.update(blob_deleted_at=now).where(Drop.id.in_(ids)).execute()
            ended += len(lost)


def end_unfinished_uploads() -> int:
    """Terminate the resumable uploads still receiving: their bytes are not in a backup.
    A client resuming one is told it is gone and starts over."""
    from drop.tus.records import RECEIVING, TERMINATED, TusUpload

    return (
        TusUpload.update(status=TERMINATED, lease_owner=None, lease_until=None)
        .where(TusUpload.status == RECEIVING)
        .execute()
    )
