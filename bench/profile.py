"""py-spy on one gunicorn worker while wrk drives one scenario, and a summary of where time goes.

By default py-spy records wall-clock time (`--idle`), so waiting on PostgreSQL or Redis
(or, on a busy machine, for a CPU) shows up beside computing; `cpu_only` records only
samples where the worker was running. The summary keeps only samples taken while the
worker served a request (gunicorn's `handle`), not those of a worker waiting for the next
connection.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from bench.servers import ROOT

PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
EXTENSIONS = {"raw": "txt", "speedscope": "speedscope.json", "flamegraph": "svg"}
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")
# py-spy names files from their package on; a C call (a query, a commit, a connect, a
# syscall) shows as the Python frame that made it.
LAYERS = (
    ("drop", "drop/"),
    ("peewee, with the database driver's C calls it makes", "peewee.py"),
    ("psycopg2", "psycopg2/"),
    ("redis-py", "redis/"),
    ("falcon", "falcon/"),
    ("prometheus_client", "prometheus_client/"),
    ("gunicorn", "gunicorn/"),
    ("the bare app", "bench/bare_app.py"),
)


def record(pid: int, seconds: float, output: Path, fmt: str, cpu_only: bool = False) -> None:
    """py-spy record of `pid` for `seconds`, written to `output` in `fmt`."""
    command = [
        str(PY_SPY),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "200",
        *([] if cpu_only else ["--idle"]),
        "--format",
        fmt,
        "--output",
        str(output),
    ]
    subprocess.run(command, check=True, timeout=seconds + 60, capture_output=True)


def profile_during(run, pid: int, seconds: float, output: Path, fmt: str, cpu_only: bool):
    """Start `run()` (the load), profile `pid` for most of it, return what `run()` returned."""
    outcome = {}
    load = threading.Thread(target=lambda: outcome.setdefault("result", run()), daemon=True)
    load.start()
    time.sleep(1)  # past the first connections
    record(pid, max(1.0, seconds - 2), output, fmt, cpu_only)
    load.join()
    return outcome.get("result")


def parse_frame(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame)
    if not match:
        return frame, ""
    return match["function"], match["file"]


def layer_of(file: str) -> str:
    for name, marker in LAYERS:
        if file.startswith(marker) or f"/{marker}" in file:
            return name
    return "python stdlib / other"


def summarise_raw(raw: str, top: int = 25) -> str:
    """Where a worker's time went while it served requests, from py-spy's raw output."""
    total = 0
    serving = 0
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        parsed = [parse_frame(frame) for frame in stack.split(";")]
        handling = [
            index
            for index, (function, file) in enumerate(parsed)
            if function.rpartition(".")[2] == "handle" and "gunicorn/workers" in file
        ]
        if not handling:
            continue  # a worker waiting for a connection
        serving += samples
        seen = set()
        for function, file in parsed[handling[0] + 1 :]:
            name = f"{function} ({short(file)})"
            if name not in seen:
                seen.add(name)
                inclusive[name] += samples
        function, file = parsed[-1]
        leaf[f"{function} ({short(file)})"] += samples
        layers[layer_of(file)] += samples
    if not serving:
        return f"{total} samples, none while serving a request\n"
    lines = [
        f"{total} samples; {serving} ({serving / total:.0%}) while serving a request, "
        "the shares below are of those",
        "",
        "time by layer of the innermost frame (where the time is spent):",
    ]
    lines += [f"  {n / serving:6.1%}  {name}" for name, n in layers.most_common()]
    lines += ["", f"top {top} innermost frames (self time):"]
    lines += [f"  {n / serving:6.1%}  {name}" for name, n in leaf.most_common(top)]
    lines += ["", f"top {top} frames by inclusive time:"]
    lines += [f"  {n / serving:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def short(file: str) -> str:
    """A file path from site-packages or the repo on, readable in a table."""
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file
