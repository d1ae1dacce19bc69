"""Applies the numbered scripts in `migrations/`, each once, recording them in a table.

A migration is a module with `apply(database)`; it runs inside a transaction, so a
failing script leaves the schema as it was (PostgreSQL and SQLite both roll back DDL).
Each transaction first takes a lock (PostgreSQL: an advisory lock; SQLite: BEGIN
IMMEDIATE, the database's write lock) and then checks again what is applied, so any
number of `drop-ops migrate` at once (two web units starting together) apply each
script exactly once, and the others wait and find nothing left to do.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import peewee

from drop import bundled

# The key of the PostgreSQL advisory lock that migrations take: any constant will do,
# as long as nothing else uses it ("drop" in ASCII).
ADVISORY_LOCK_KEY = 0x64726F70


class AppliedMigration(peewee.Model):
    name = peewee.CharField(max_length=255, primary_key=True)
    applied_at = peewee.DateTimeField()

    class Meta:
        table_name = "schema_migrations"


@dataclass(frozen=True)
class MigrationStatus:
    name: str
    applied_at: datetime.datetime | None

    @property
    def applied(self) -> bool:
        return self.applied_at is not None


class NoMigrations(RuntimeError):
    """The migration scripts are missing: a broken install, never a database "up to date"."""


def available(directory: Path | None = None) -> list[Path]:
    """The numbered migration scripts in order; NoMigrations when there are none."""
    directory = directory or bundled.directory("migrations")
    scripts = sorted(p for p in directory.glob("[0-9]*.py"))
    if not scripts:
        raise NoMigrations(f"no migration scripts in {directory}: this install of drop is broken")
    return scripts


def status(database: peewee.Database, directory: Path | None = None) -> list[MigrationStatus]:
    """Every migration on disk, with when it was applied (None if pending)."""
    with database.bind_ctx([AppliedMigration]):
        with locked_transaction(database):
            AppliedMigration.create_table(safe=True)
        applied = {m.name: m.applied_at for m in AppliedMigration.select()}
    return [MigrationStatus(p.stem, applied.get(p.stem)) for p in available(directory)]


def migrate(database: peewee.Database, directory: Path | None = None) -> list[str]:
    """Apply pending migrations in order; return the names applied (empty when up to date)."""
    directory = directory or bundled.directory("migrations")
    done = []
    with database.bind_ctx([AppliedMigration]):
        for entry in status(database, directory):
            if entry.applied:
                continue
            with locked_transaction(database):
                # Another process may have applied it while this one waited for the lock.
                if AppliedMigration.get_or_none(AppliedMigration.name == entry.name):
                    continue
                _load(directory / f"{entry.name}.py").apply(database)
                AppliedMigration.create(
                    name=entry.name,
                    applied_at=datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
                )
            done.append(entry.name)
    return done


@contextlib.contextmanager
def locked_transaction(database: peewee.Database):
    """A transaction that no other migrating process runs at the same time."""
    if isinstance(getattr(database, "obj", database), peewee.SqliteDatabase):
        # IMMEDIATE takes the write lock at BEGIN; a second process waits (busy_timeout).
        with database.atomic(lock_type="IMMEDIATE"):
            yield
    else:
        with database.atomic():
            # Released with the transaction, so a crash never leaves it held.
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            yield


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"drop_migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
