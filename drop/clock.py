"""The clock: now in naive UTC (the database's timestamps), and that time as seconds or
milliseconds since the epoch (files, objects, Redis counters). Every layer reads time here."""

from __future__ import annotations

import datetime


def utcnow() -> datetime.datetime:
    """Naive UTC, the form every timestamp takes in the database."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def naive_utc_epoch(moment: datetime.datetime) -> float:
    """Seconds since the epoch of a naive UTC datetime (.timestamp() would read it as local)."""
    return moment.replace(tzinfo=datetime.UTC).timestamp()


def epoch_ms(moment: datetime.datetime) -> int:
    """Whole milliseconds since the epoch of a naive UTC datetime."""
    return int(naive_utc_epoch(moment) * 1000)
