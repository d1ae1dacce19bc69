"""Drive wrk with one of the Lua scripts in bench/lua and read its results back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
MARKER = "BENCH_RESULT "
# A run with more wrong answers or socket errors than this is not a measure of drop: an
# error answer is faster than the real one.
ERROR_SHARE_ALLOWED = 0.01


@dataclass
class Measure:
    """One timed run against one server: how much got through, and what went wrong."""

    requests: int
    seconds: float
    bytes: int
    expected: int  # answers with the status the scenario expects
    unexpected: dict[str, int] = field(default_factory=dict)  # status or error kind -> count
    latency_ms: dict[str, float] = field(default_factory=dict)
    peak_rss_kib: dict[str, int] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_second(self) -> float:
        # Only right answers count: a fast error must not pass for throughput.
        return self.expected / self.seconds if self.seconds else 0.0

    @property
    def mib_per_second(self) -> float:
        return self.bytes / self.seconds / 1048576 if self.seconds else 0.0

    @property
    def error_share(self) -> float:
        wrong = sum(self.unexpected.values())
        return min(1.0, wrong / self.requests) if self.requests else 1.0

    @property
    def trustworthy(self) -> bool:
        return self.requests > 0 and self.error_share <= ERROR_SHARE_ALLOWED


def run_wrk(
    url: str,
    script: str,
    args: list[str],
    *,
    connections: int,
    duration: float,
    expect_status: int | None = None,
) -> Measure:
    """Run wrk for `duration` seconds; `expect_status` counts every answer's status in Lua.

    Without `expect_status` any 2xx/3xx counts as expected (wrk's own tally), which keeps
    Lua away from large bodies.
    """
    threads = min(2, connections)
    command = [
        WRK,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA / script),
        url,
        "--",
        *args,
    ]
    env = dict(os.environ, BENCH_COUNT_STATUSES="1" if expect_status else "0")
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    raw = json.loads(lines[-1].removeprefix(MARKER))
    return measure_from_wrk(raw, expect_status)


def measure_from_wrk(raw: dict, expect_status: int | None) -> Measure:
    errors = raw["errors"]
    unexpected = {kind: errors[kind] for kind in ("connect", "read", "write", "timeout")}
    if expect_status is None:
        expected = raw["requests"] - errors["status"]
        unexpected["non-2xx/3xx"] = errors["status"]
    else:
        statuses = {int(status): count for status, count in raw["statuses"].items()}
        expected = statuses.pop(expect_status, 0)
        unexpected.update({str(status): count for status, count in statuses.items()})
    latency = raw["latency_us"]
    return Measure(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        bytes=raw["bytes"],
        expected=expected,
        unexpected={kind: count for kind, count in unexpected.items() if count},
        latency_ms={key: round(value / 1000, 2) for key, value in latency.items()},
    )
