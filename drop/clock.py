"""Naive UTC (the database's timestamps) against seconds since the epoch (files, objects)."""

from __future__ import annotations

import datetime


def naive_utc_epoch(moment: datetime.datetime) -> float:
    """Seconds since the epoch of a naive UTC datetime (.timestamp() would read it as local)."""
    return moment.replace(tzinfo=datetime.UTC).timestamp()
