"""The worker's heartbeat: a file in the data directory the Huey consumer rewrites each minute.

A file, not Redis, so the embedded mode has one too; the web server and the worker
always share the data directory, because the blobs live there.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

FILENAME = "worker-heartbeat"


@dataclass(frozen=True)
class WorkerHealth:
    """When the worker last beat, and whether that is recent enough to call it alive."""

    last_beat: datetime.datetime | None
    age_seconds: float | None
    alive: bool

    def describe(self) -> str:
        if self.last_beat is None:
            return "no heartbeat yet: is `drop-ops worker` running?"
        state = "alive" if self.alive else "STALE"
        return f"{state}, last heartbeat {self.age_seconds:.0f}s ago"


def write_heartbeat(data_dir: Path, now: datetime.datetime) -> None:
    """Record `now` (naive UTC) as the worker's latest sign of life, atomically."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # A temp name of its own for every write: the consumer's start-up hook and the periodic
    # task may beat at the same moment, and a shared name lets one rename the other's file.
    descriptor, temp = tempfile.mkstemp(prefix=f".{FILENAME}.", dir=data_dir)
    try:
        os.fchmod(descriptor, 0o644)  # mkstemp's 0600 would hide it from a web server user
        with os.fdopen(descriptor, "w") as file:
            file.write(now.isoformat())
        os.replace(temp, data_dir / FILENAME)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_heartbeat(data_dir: Path) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat((data_dir / FILENAME).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def worker_health(data_dir: Path, now: datetime.datetime, stale_after: float) -> WorkerHealth:
    last = read_heartbeat(data_dir)
    if last is None:
        return WorkerHealth(None, None, False)
    age = max((now - last).total_seconds(), 0.0)
    return WorkerHealth(last, age, age <= stale_after)
