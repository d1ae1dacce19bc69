"""`make bench-round-trips`: what one wait on another server costs a gunicorn worker.

drop's hot paths each wait on the database or Redis at least once a request; the bare
app of `make bench` waits on nothing. This runs the bare app on drop's gunicorn settings
three times, its requests making 0, 1 and 3 round trips to Redis (a PING each,
BENCH_BARE_ROUND_TRIPS), drives the 1 KiB download at c=8 with wrk, and prints the
requests a second and the CPU time the web workers spent per request, beside the CPU
time one PING costs in a single-threaded loop here. The gap between the two is the
worker's cost of waiting (threads woken, the GIL handed over) rather than of the PING.

    .venv/bin/python -m bench.round_trips [--rounds 3] [--seconds 5] [--worker-class gevent]

`--worker-class` runs the bare app on another of gunicorn's workers instead of drop's own
(`gevent` needs `.venv/bin/pip install gevent`, which drop does not depend on): what the
same waits would cost there.

Everything listens on 127.0.0.1; Redis is the one `make bench-deps` starts.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

from bench.servers import Gunicorn, server_env
from bench.wrk import run_wrk

ROUND_TRIPS = (0, 1, 3)
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6379"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User and system time of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def ping_cpu_microseconds(count: int = 5000) -> float:
    """CPU time of one PING round trip, one thread, nothing else running in it."""
    with socket.create_connection(("127.0.0.1", REDIS_PORT)) as sock:
        started = time.process_time()
        for _ in range(count):
            sock.sendall(b"PING\r\n")
            sock.recv(64)
        return (time.process_time() - started) / count * 1e6


def start_bare(
    workdir: Path, files: Path, round_trips: int, worker_class: str | None = None
) -> Gunicorn:
    workdir.mkdir(parents=True)
    # Command-line settings win over ops/gunicorn.conf.py's.
    extra = {"GUNICORN_CMD_ARGS": f"--worker-class {worker_class}"} if worker_class else {}
    env = server_env(
        **extra,
        DROP_DATA_DIR=str(workdir / "data"),
        BENCH_BARE_FILES=str(files),
        BENCH_BARE_UPLOADS=str(workdir / "uploads"),
        BENCH_BARE_ROUND_TRIPS=str(round_trips),
        BENCH_REDIS_PORT=str(REDIS_PORT),
    )
    server = Gunicorn(f"bare-{round_trips}", "bench.bare_app:app_from_env()", env, workdir)
    server.start("/files/1k.bin")
    return server


def measure(server: Gunicorn, paths: Path, seconds: float) -> tuple[float, float]:
    """Requests a second, and the workers' CPU milliseconds per request."""
    pids = server.worker_pids()
    before = cpu_seconds(pids)
    result = run_wrk(server.url, "paths.lua", [str(paths)], connections=8, duration=seconds)
    spent = cpu_seconds(pids) - before
    if not result.trustworthy:
        raise SystemExit(f"{server.name} answered wrongly: {result.unexpected}")
    return result.requests_per_second, spent / max(result.expected, 1) * 1000


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--worker-class", help="another gunicorn worker class, e.g. gevent")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="drop-round-trips-"))
    files = workdir / "files"
    files.mkdir()
    (files / "1k.bin").write_bytes(os.urandom(1024))
    paths = workdir / "1k.paths"
    paths.write_text("/files/1k.bin\n")
    servers = {}
    try:
        for count in ROUND_TRIPS:
            servers[count] = start_bare(workdir / f"bare-{count}", files, count, args.worker_class)
        figures = {count: [] for count in ROUND_TRIPS}
        for round_number in range(1, args.rounds + 1):
            for count, server in servers.items():
                figures[count].append(measure(server, paths, args.seconds))
            print(f"round {round_number} of {args.rounds} done", flush=True)
        ping = ping_cpu_microseconds()
    finally:
        for server in servers.values():
            server.stop()
    print(f"\nworker class: {args.worker_class or 'drop.runtime.serving.PacedThreadWorker'}")
    print(f"one PING in a single-threaded loop: {ping:.0f} us of CPU")
    print("round trips a request   req/s   worker CPU ms/request   added per round trip")
    base_cpu = statistics.median(cpu for _, cpu in figures[0])
    for count in ROUND_TRIPS:
        rate = statistics.median(rps for rps, _ in figures[count])
        cpu = statistics.median(cpu for _, cpu in figures[count])
        added = f"{(cpu - base_cpu) / count * 1000:.0f} us" if count else "-"
        print(f"{count:>20}   {rate:>7,.0f}   {cpu:>21.2f}   {added:>20}")


if __name__ == "__main__":
    main()
