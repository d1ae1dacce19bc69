"""A consistent copy of the database while drop runs, and loading one into an empty database.

SQLite: the online backup API copies every page under one read transaction, which WAL
lets writers carry on beside. PostgreSQL: `pg_dump --format=custom` inside a snapshot
exported by a transaction of our own, so that the list of blobs to copy is read from
exactly the state the dump holds.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse, urlunparse

import psycopg2
import psycopg2.extensions

from drop.ops.checks import first_line, redact_url

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
# The drops whose blob storage still holds (migration 0010: NULL until it is deleted).
HELD_BLOBS = 'SELECT "token" FROM "drop" WHERE "blob_deleted_at" IS NULL ORDER BY "id"'
COUNTS = """SELECT count(*), coalesce(sum(CASE WHEN "status" = 'live' THEN 1 ELSE 0 END), 0),
    coalesce(sum(CASE WHEN "blob_deleted_at" IS NULL THEN 1 ELSE 0 END), 0) FROM "drop" """
TOKENS_PER_FETCH = 1000


class SnapshotError(Exception):
    """The database could not be copied or loaded; the message says what to fix."""


def database_kind(url: str) -> str:
    return SQLITE if urlparse(url).scheme == SQLITE else POSTGRESQL


def sqlite_path(url: str) -> Path:
    """The file behind a sqlite:// URL (as drop.db.database opens it)."""
    return Path(
        url[len("sqlite:///") :] if url.startswith("sqlite:///") else url[len("sqlite://") :]
    )


class Snapshot:
    """The database as it was at one instant: its figures and the tokens of held blobs."""

    def __init__(self, cursor, counts: tuple[int, int, int]):
        self._cursor = cursor
        self.drops, self.live, self.held_blobs = (int(n) for n in counts)

    def held_tokens(self) -> Iterator[str]:
        """The token of every drop whose blob the store held at the snapshot, a page at a time."""
        self._cursor.execute(HELD_BLOBS)
        while rows := self._cursor.fetchmany(TOKENS_PER_FETCH):
            for (token,) in rows:
                yield token


@contextlib.contextmanager
def sqlite_snapshot(url: str, target: Path) -> Iterator[Snapshot]:
    """Copy the live SQLite database into `target`, then read the copy."""
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise SnapshotError(f"no SQLite database at {source_path}: check DROP_DATA_DIR")
    source = sqlite3.connect(source_path)
    try:
        source.execute("PRAGMA busy_timeout = 10000")
        copy = sqlite3.connect(target)
        try:
            # pages=-1: every page in one step, under one read transaction, so the copy
            # is one instant of the database however many uploads commit meanwhile.
            source.backup(copy, pages=-1)
        finally:
            copy.close()
    except sqlite3.Error as error:
        raise SnapshotError(f"SQLite backup of {source_path} failed: {error}") from None
    finally:
        source.close()
    copy = sqlite3.connect(target)
    try:
        # One self-contained file, whatever the journal mode of the original.
        copy.execute("PRAGMA journal_mode = delete")
        check = copy.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise SnapshotError(f"the copy of {source_path} fails SQLite's check: {check}")
        yield Snapshot(copy.cursor(), copy.execute(COUNTS).fetchone())
    finally:
        copy.close()


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL for libpq without its password, and the environment that carries it:
    a password on pg_dump's command line would show in every process listing."""
    parts = urlparse(url)
    env = {}
    netloc = parts.netloc
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    return urlunparse(parts._replace(scheme="postgresql", netloc=netloc)), env


def connect_postgres(url: str):
    """A psycopg2 connection to `url`, or SnapshotError naming the database."""
    dsn, env = libpq_target(url)
    try:
        return psycopg2.connect(dsn, password=env.get("PGPASSWORD"))
    except psycopg2.OperationalError as error:
        raise SnapshotError(f"database {redact_url(url)}: {first_line(error)}") from None


@contextlib.contextmanager
def postgres_snapshot(url: str, target: Path) -> Iterator[Snapshot]:
    """`pg_dump --format=custom` into `target` inside a snapshot this transaction holds
    open while the caller reads the tokens of held blobs from the same instant."""
    connection = connect_postgres(url)
    try:
        connection.set_session(
            isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot_id,) = cursor.fetchone()
            run_client_tool(
                "pg_dump",
                ["--format=custom", f"--snapshot={snapshot_id}", f"--file={target}"],
                url,
            )
            cursor.execute(COUNTS)
            counts = cursor.fetchone()
        # A server-side cursor: the tokens arrive a page at a time, not all at once.
        with connection.cursor(name="drop_backup_tokens") as tokens:
            tokens.itersize = TOKENS_PER_FETCH
            yield Snapshot(tokens, counts)
    finally:
        connection.close()


def load_postgres(url: str, dump: Path) -> None:
    """`pg_restore` a dump into the empty database at `url`, all of it or nothing."""
    run_client_tool(
        "pg_restore",
        ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", str(dump)],
        url,
    )


def postgres_tables(url: str) -> int:
    """How many tables the database at `url` holds outside PostgreSQL's own schemas."""
    connection = connect_postgres(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT count(*) FROM information_schema.tables
                WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"""
            )
            return cursor.fetchone()[0]
    finally:
        connection.close()


def sqlite_tables(path: Path) -> int:
    """How many tables the SQLite file at `path` holds (0: an empty file)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise SnapshotError(f"{path} cannot be read as SQLite: {error}") from None


def run_client_tool(tool: str, args: list[str], url: str) -> None:
    """Run PostgreSQL's `tool` against `url`; SnapshotError with its own words if it fails."""
    dsn, env = libpq_target(url)
    try:
        done = subprocess.run(
            [tool, f"--dbname={dsn}", *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        raise SnapshotError(
            f"{tool} was not found: install PostgreSQL's client tools, of the server's "
            "major version or newer (Debian: apt-get install postgresql-client)"
        ) from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise SnapshotError(f"{tool} failed on {redact_url(url)}: {said[-1]}")
