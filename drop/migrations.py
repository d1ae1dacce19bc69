"""Applies the numbered scripts in `migrations/`, each once, recording them in a table.

A migration is a module with `apply(database)`; it runs inside a transaction, so a
failing script leaves the schema as it was (PostgreSQL and SQLite both roll back DDL).
"""

from __future__ import annotations

import datetime
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import peewee

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


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


def available(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("[0-9]*.py"))


def status(database: peewee.Database, directory: Path = MIGRATIONS_DIR) -> list[MigrationStatus]:
    """Every migration on disk, with when it was applied (None if pending)."""
    with database.bind_ctx([AppliedMigration]):
        AppliedMigration.create_table(safe=True)
        applied = {m.name: m.applied_at for m in AppliedMigration.select()}
    return [MigrationStatus(p.stem, applied.get(p.stem)) for p in available(directory)]


def migrate(database: peewee.Database, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in order; return the names applied (empty when up to date)."""
    done = []
    for entry in status(database, directory):
        if entry.applied:
            continue
        module = _load(directory / f"{entry.name}.py")
        with database.bind_ctx([AppliedMigration]), database.atomic():
            module.apply(database)
            AppliedMigration.create(
                name=entry.name, applied_at=datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
            )
        done.append(entry.name)
    return done


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"drop_migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
