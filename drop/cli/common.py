"""What every drop-ops command shares: the config, the database, durations and sizes."""

from __future__ import annotations

import contextlib
import datetime
import re

import peewee
import typer

from drop.config import Config, ConfigError


def load_config() -> Config:
    """The configuration from the environment, or exit 1 with a one-line message."""
    try:
        return Config.from_env()
    except ConfigError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def connected(config: Config):
    """Point the models at the configured database; a database error exits 1 with one line."""
    from drop.db.models import init_database
    from drop.ops.checks import first_line, redact_url

    database = init_database(config.effective_database_url)
    try:
        with database.connection_context():
            yield database
    except peewee.DatabaseError as error:
        where = redact_url(config.effective_database_url)
        typer.echo(f"drop-ops: database {where}: {first_line(error)}", err=True)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def installed():
    """Exit 1 with one line when this install of drop lacks a file it needs."""
    from drop.bundled import MissingResource
    from drop.db.migrations import NoMigrations

    try:
        yield
    except (MissingResource, NoMigrations) as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None


DURATION = re.compile(r"(\d+)([smhdw]?)")


UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# Fewer drops than this are purged too fast for a progress bar to be worth drawing.
PROGRESS_BAR_FROM = 100


LISTED = 20


def parse_duration(value: str | None) -> datetime.timedelta | None:
    """'90s', '30m', '12h', '7d', '2w' or plain seconds as a timedelta; else a usage error."""
    if value is None:
        return None
    match = DURATION.fullmatch(value.strip().lower())
    if not match:
        raise typer.BadParameter(f"{value!r} is not a duration like 30m, 12h, 7d or 2w")
    return datetime.timedelta(seconds=int(match[1]) * UNIT_SECONDS[match[2]])


class NoProgress:
    def update(self, steps: int) -> None:
        pass


SIZE = re.compile(r"(\d+)\s*([kmgt]i?b?|b)?")


SIZE_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str) -> int:
    """'2GiB', '500MiB', '2GB' (decimal), '100k' or plain bytes as bytes; else a usage error."""
    match = SIZE.fullmatch(value.strip().lower())
    if not match:
        raise typer.BadParameter(f"{value!r} is not a size like 500MiB, 2GiB or 1048576")
    unit = match[2] or "b"
    decimal = unit.endswith("b") and not unit.endswith("ib") and unit != "b"
    base = 1000 ** "bkmgt".index(unit[0]) if decimal else SIZE_UNITS[unit[0]]
    return int(match[1]) * base


def _bounded(value: int, maximum: int, option: str, shown: str) -> int:
    if not 1 <= value <= maximum:
        raise typer.BadParameter(f"must be from 1 to {shown}", param_hint=option)
    return value
