"""`make bench-scale`: does drop's background work stay flat as the store grows? (issue 10)

On PostgreSQL (its own databases, dropped and created afresh, dropped again at the end)
it seeds 1,000,000 drops, half of them past their expiry at once, and 100,000 small blobs,
then measures, against the issue's bars:

- the per-minute sweep over the 500,000 newly expired drops: time, statements, and the
  sweeping process's peak memory growth (bar: bounded batches, under 64 MiB);
- the sweep in the steady state, with nothing to do (bar: under 50 ms);
- `drop-ops stats` (bar: under 200 ms) and the dashboard's stats cards, a GET of
  /ops/stats from gunicorn (bar: under 100 ms);
- download latency p50/p99 on the seeded database against a second, empty one, each
  served by its own gunicorn, rounds taken in turn (bar: within 1.2x).

It also prints the PostgreSQL plan of every statistics query at this size, so a full scan
shows at once. Everything listens on 127.0.0.1; the run takes a few minutes.

    .venv/bin/python -m bench.scale               # what `make bench-scale` runs
    .venv/bin/python -m bench.scale --drops 100000 --blobs 10000 --rounds 1
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
import requests

from bench.servers import ROOT, Gunicorn, server_env
from drop.clock import utcnow

DATABASE_URL = os.environ.get(
    "BENCH_SCALE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/drop_bench_scale"
)
# The baseline of the latency: the same drops on a database holding nothing else.
EMPTY_DATABASE_URL = DATABASE_URL + "_empty"
ADMIN_TOKEN = "bench-scale-admin-token-0123456789"
MIB = 1024 * 1024
BARS = {
    "sweep_peak_growth_mib": 64,
    "steady_sweep_ms": 50,
    "stats_ms": 200,
    "cards_ms": 100,
    "latency_ratio": 1.2,
}
LATENCY_DROPS = 50  # drops the latency runs download, uploaded through the API
SEED_CHUNK = 100_000  # rows per INSERT … SELECT: progress shows, transition tables stay small


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=1_000_000)
    parser.add_argument("--blobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
    parser.add_argument("--downloads", type=int, default=1000, help="GETs per latency round")
    parser.add_argument("--sweep-once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sweep_once:
        return sweep_in_this_process(args.rounds)
    check_database_url(DATABASE_URL)
    workdir = Path(tempfile.mkdtemp(prefix="drop-bench-scale-"))
    try:
        results = run(args, workdir)
    finally:
        drop_database(DATABASE_URL)
        drop_database(EMPTY_DATABASE_URL)
        shutil.rmtree(workdir, ignore_errors=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scale.json").write_text(json.dumps(results, indent=2))
    return print_summary(results)


def run(args, workdir: Path) -> dict:
    create_database(DATABASE_URL)
    create_database(EMPTY_DATABASE_URL)
    seeded = start_server(DATABASE_URL, workdir / "seeded")
    empty = start_server(EMPTY_DATABASE_URL, workdir / "empty")
    results: dict = {"drops": args.drops, "blobs": args.blobs, "rounds": args.rounds}
    try:
        tokens = {
            server: [upload(server.url) for _ in range(LATENCY_DROPS)] for server in (seeded, empty)
        }
        started = time.monotonic()
        seed(args.drops, args.blobs, seeded.data_dir)
        # Autovacuum's ANALYZE would follow such an insert; without it PostgreSQL plans
        # the sweep's batches from the empty table's statistics (a full sort per batch).
        vacuum()
        results["seed_seconds"] = round(time.monotonic() - started, 1)
        say("sweep over the newly expired drops, then the steady state")
        results["sweep"] = sweep_in_a_child(seeded.env, args.rounds)
        vacuum()
        results["explain"] = explain_stats_queries(seeded.env)
        say("drop-ops stats")
        results["stats_ms"] = stats_rounds(seeded.env, args.rounds)
        say("dashboard stats cards")
        results["cards_ms"] = cards_rounds(seeded.url, args.rounds)
        say("download latency, seeded and empty database, rounds taken in turn")
        results["latency_full"], results["latency_empty"] = latency_in_turn(
            (seeded, tokens[seeded]), (empty, tokens[empty]), args=args
        )
    finally:
        seeded.stop()
        empty.stop()
    return results


def start_server(database_url: str, workdir: Path) -> Gunicorn:
    """drop under gunicorn on `database_url`, migrated, with its own data directory."""
    workdir.mkdir(parents=True)
    data_dir = workdir / "data"
    env = server_env(
        DROP_DATABASE_URL=database_url,
        DROP_DATA_DIR=str(data_dir),
        DROP_ADMIN_TOKEN=ADMIN_TOKEN,
        DROP_MAX_DOWNLOADS="1000000",
        DROP_UPLOADS_PER_HOUR="0",
        DROP_WEB_WORKERS=os.environ.get("DROP_WEB_WORKERS", "2"),
        DROP_MIN_FREE_BYTES="0",
    )
    drop_ops(env, "migrate")
    server = Gunicorn("drop", "drop.wsgi:app", env, workdir)
    server.data_dir = data_dir
    server.start("/healthz")
    return server


def check_database_url(url: str) -> None:
    parts = urlparse(url)
    if parts.hostname not in ("127.0.0.1", "localhost") or "bench" not in parts.path:
        raise SystemExit(f"BENCH_SCALE_DATABASE_URL must be local and named *bench*: {url}")


def admin_connection(url: str):
    connection = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    connection.autocommit = True  # CREATE/DROP DATABASE refuse to run in a transaction
    return connection


def create_database(url: str) -> None:
    drop_database(url)
    with contextlib.closing(admin_connection(url)) as admin, admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')


def drop_database(url: str) -> None:
    with contextlib.closing(admin_connection(url)) as admin, admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def drop_ops(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "drop.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def say(message: str) -> None:
    print(f"== {message}", flush=True)


# --- seeding ---------------------------------------------------------------------------


def seed(drops: int, blobs: int, data_dir: Path) -> None:
    """`drops` rows made by the server (INSERT … SELECT over generate_series), then the
    blobs of every (drops/blobs)-th row, half of them due ones."""
    say(f"seeding {drops:,} drops (half expiring at once) and {blobs:,} blobs")
    started = time.monotonic()
    with contextlib.closing(psycopg2.connect(DATABASE_URL)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            for first in range(1, drops + 1, SEED_CHUNK):
                last = min(first + SEED_CHUNK - 1, drops)
                cursor.execute(SEED_SQL, {"first": first, "last": last})
            print(f"   rows in {time.monotonic() - started:.0f} s", flush=True)
            started = time.monotonic()
            written = 0
            for i in blob_numbers(drops, blobs):
                token = hashlib.md5(f"bench-scale-{i}".encode()).hexdigest()
                path = data_dir / "blobs" / token[:2] / token
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"b" * blob_size(i))
                written += 1
            print(f"   {written:,} blobs in {time.monotonic() - started:.0f} s", flush=True)


def blob_numbers(drops: int, blobs: int):
    """Row numbers with a blob: evenly spread, half even (due) and half odd (staying live)."""
    step = max(2 * drops // blobs, 2)
    for base in range(0, drops, step):
        yield from (n for n in (base + 2, base + 3) if n <= drops)


def blob_size(i: int) -> int:
    return 512 + i % 1024  # as the row's size below


# Even rows are due a minute ago; odd ones a day from now. Creation times spread over two
# weeks (a store with a week's retention holds about that), so the week's window counts
# half the table. md5 gives 32 hex characters, a token's shape.
SEED_SQL = """
INSERT INTO "drop" ("token", "filename", "content_type", "size", "sha256", "password_hash",
    "delete_token_hash", "created_at", "expires_at", "max_downloads", "downloads", "status")
SELECT md5('bench-scale-' || i), 'file-' || i || '.bin', 'application/octet-stream',
    512 + i %% 1024, md5('s' || i) || md5('t' || i), NULL, md5('d' || i) || md5('e' || i),
    (now() AT TIME ZONE 'utc') - make_interval(mins => i %% 20160),
    CASE WHEN i %% 2 = 0 THEN (now() AT TIME ZONE 'utc') - interval '1 minute'
        ELSE (now() AT TIME ZONE 'utc') + interval '1 day' END,
    1, 0, 'live'
FROM generate_series(%(first)s::int, %(last)s::int) AS i
"""


def vacuum() -> None:
    # What autovacuum does on its own a little later: the steady state is measured after it.
    with contextlib.closing(psycopg2.connect(DATABASE_URL)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute('VACUUM ANALYZE "drop"')
            cursor.execute('VACUUM ANALYZE "drop_tally"')


# --- the sweep -------------------------------------------------------------------------


def sweep_in_a_child(env: dict, rounds: int) -> dict:
    """The sweep runs in a process of its own, so its peak memory is its own."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--sweep-once", "--rounds", str(rounds)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def sweep_in_this_process(rounds: int) -> int:
    """Run the worker's sweep (drops.sweep with the task's arguments) over the backlog, then
    `rounds` x 5 times with nothing to do; print the figures as one JSON line."""
    from drop import tasks
    from drop.db.models import Drop, db, init_database
    from drop.drops import lifecycle as drops
    from drop.storage import open_storage

    config = tasks.config
    init_database(config.effective_database_url)
    storage = open_storage(config)

    def sweep_now():
        with db.connection_context():
            return drops.sweep(
                storage,
                utcnow(),
                config.delete_grace_seconds,
                uploader_retention=config.uploader_retention,
            )

    with db.connection_context():
        Drop.select().limit(1).count()  # connection and query machinery warmed up
    baseline = peak_rss_kib()
    started = time.perf_counter()
    report = sweep_now()
    backlog_seconds = time.perf_counter() - started
    peak = peak_rss_kib()
    steady = []
    vacuumed = []
    for _ in range(rounds * 5):
        started = time.perf_counter()
        assert sweep_now().expired == 0
        steady.append((time.perf_counter() - started) * 1000)
    with contextlib.closing(psycopg2.connect(config.database_url)) as connection:
        connection.autocommit = True
        connection.cursor().execute('VACUUM ANALYZE "drop"')
    for _ in range(rounds * 5):
        started = time.perf_counter()
        sweep_now()
        vacuumed.append((time.perf_counter() - started) * 1000)
    figures = {
        "expired": report.expired,
        "blobs_deleted": report.blobs_deleted,
        "statements": report.batches,
        "batch_size": drops.SWEEP_BATCH,
        "backlog_seconds": round(backlog_seconds, 2),
        "baseline_rss_mib": round(baseline / 1024, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "peak_growth_mib": round((peak - baseline) / 1024, 1),
        "steady_ms_before_vacuum": [round(ms, 1) for ms in steady],
        "steady_ms": [round(ms, 1) for ms in vacuumed],
    }
    print(json.dumps(figures))
    return 0


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


# --- statistics ------------------------------------------------------------------------


def stats_rounds(env: dict, rounds: int) -> dict:
    """`drop-ops stats --json` in this process (CliRunner: connect, read, print), after a
    warm-up; and once as a command, Python's start-up included, for scale."""
    from typer.testing import CliRunner

    from drop.cli import cli

    runner = CliRunner()
    timings = []
    for _ in range(1 + rounds * 5):
        started = time.perf_counter()
        result = runner.invoke(cli, ["stats", "--json"], env=env)
        timings.append((time.perf_counter() - started) * 1000)
        assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    started = time.perf_counter()
    drop_ops(env, "stats", "--json")
    command_ms = (time.perf_counter() - started) * 1000
    return {
        "runs": [round(ms, 1) for ms in timings[1:]],
        "command_with_startup_ms": round(command_ms),
        "by_status": figures["by_status"],
        "bytes_stored": figures["bytes_stored"],
    }


def cards_rounds(url: str, rounds: int) -> dict:
    """GET /ops/stats (the fragment the dashboard polls) with a logged-in session."""
    session = requests.Session()
    login = session.post(
        f"{url}/ops/login", data={"token": ADMIN_TOKEN}, allow_redirects=False, timeout=30
    )
    assert login.status_code == 303, login.text
    timings = []
    for _ in range(2 + rounds * 10):
        started = time.perf_counter()
        got = session.get(f"{url}/ops/stats", timeout=30)
        timings.append((time.perf_counter() - started) * 1000)
        assert got.status_code == 200 and 'id="stat-live"' in got.text, got.status_code
    return {"runs": [round(ms, 1) for ms in timings[2:]]}


def explain_stats_queries(env: dict) -> list[dict]:
    """EXPLAIN ANALYZE every statement collect_stats runs, captured from peewee's log."""
    from drop.db.models import db, init_database
    from drop.ops.stats import collect_stats
    from drop.runtime.heartbeat import WorkerHealth

    captured: list[tuple[str, tuple]] = []

    class Capture(logging.Handler):
        def emit(self, record):
            sql, params = record.msg
            if sql.lstrip().upper().startswith("SELECT"):
                captured.append((sql, tuple(params)))

    logger = logging.getLogger("peewee")
    handler = Capture()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    database = init_database(env["DROP_DATABASE_URL"])
    try:
        with database.connection_context():
            collect_stats(
                utcnow(),
                queue_length=None,
                worker=WorkerHealth(None, None, False),
            )
        plans = []
        with database.connection_context():
            for sql, params in captured:
                rows = db.execute_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
                lines = [row[0] for row in rows]
                nodes = [line.strip() for line in lines if "Scan" in line]
                total = next(line for line in lines if line.startswith("Execution Time"))
                plans.append({"sql": " ".join(sql.split())[:160], "scans": nodes, "time": total})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    say("plans of the statistics queries")
    for plan in plans:
        print(f"   {plan['time']:<28} {plan['sql'][:100]}")
        for node in plan["scans"]:
            print(f"      {node[:130]}")
    return plans


# --- downloads -------------------------------------------------------------------------


def upload(url: str) -> str:
    got = requests.put(
        f"{url}/api/v1.0/file",
        files={"file": ("latency.bin", b"l" * 1024, "application/octet-stream")},
        data={"max_downloads": "1000000"},
        timeout=30,
    )
    assert got.status_code == 201, got.text
    return got.json()["token"]


def latency_in_turn(*servers: tuple[Gunicorn, list[str]], args) -> list[dict]:
    """Download latency of each server, `rounds` rounds taken in turn (the order switching
    each round), so a busier minute of a shared machine weighs on both alike."""
    sessions = [requests.Session() for _ in servers]
    for session, (server, tokens) in zip(sessions, servers, strict=True):
        for token in tokens * 4:  # warm-up: connections, caches
            got = session.get(f"{server.url}/api/v1.0/file/{token}", timeout=30)
            assert got.status_code == 200
    rounds: list[list[dict]] = [[] for _ in servers]
    for number in range(args.rounds):
        order = range(len(servers)) if number % 2 == 0 else reversed(range(len(servers)))
        for index in order:
            server, tokens = servers[index]
            rounds[index].append(latency_round(sessions[index], server.url, tokens, args))
    return [{"rounds": taken} for taken in rounds]


def latency_round(session: requests.Session, url: str, tokens: list[str], args) -> dict:
    """`downloads` sequential GETs of 1 KiB drops on one keep-alive connection, each a
    real claim; their p50 and p99."""
    timings = []
    for n in range(args.downloads):
        token = tokens[n % len(tokens)]
        started = time.perf_counter()
        got = session.get(f"{url}/api/v1.0/file/{token}", timeout=30)
        timings.append((time.perf_counter() - started) * 1000)
        assert got.status_code == 200 and len(got.content) == 1024, got.status_code
    timings.sort()
    return {
        "p50_ms": round(timings[len(timings) // 2], 2),
        "p99_ms": round(timings[int(len(timings) * 0.99)], 2),
    }


# --- the summary -----------------------------------------------------------------------


def print_summary(results: dict) -> int:
    sweep = results["sweep"]
    steady = statistics.median(sweep["steady_ms"])
    stats_ms = statistics.median(results["stats_ms"]["runs"])
    cards_ms = statistics.median(results["cards_ms"]["runs"])
    empty, full = results["latency_empty"]["rounds"], results["latency_full"]["rounds"]
    p50 = statistics.median(r["p50_ms"] for r in full) / statistics.median(
        r["p50_ms"] for r in empty
    )
    p99 = statistics.median(r["p99_ms"] for r in full) / statistics.median(
        r["p99_ms"] for r in empty
    )
    rows = [
        (
            f"sweep over {sweep['expired']:,} newly expired drops",
            f"{sweep['backlog_seconds']} s, {sweep['statements']} statements of "
            f"<= {sweep['batch_size']} rows, {sweep['blobs_deleted']:,} blobs deleted",
            "",
            True,
        ),
        (
            "  its peak memory growth",
            f"{sweep['peak_growth_mib']} MiB (process peak {sweep['peak_rss_mib']} MiB)",
            f"< {BARS['sweep_peak_growth_mib']} MiB",
            sweep["peak_growth_mib"] < BARS["sweep_peak_growth_mib"],
        ),
        (
            "steady-state sweep, median",
            f"{steady:.1f} ms (before VACUUM: "
            f"{statistics.median(sweep['steady_ms_before_vacuum']):.1f} ms)",
            f"< {BARS['steady_sweep_ms']} ms",
            steady < BARS["steady_sweep_ms"],
        ),
        (
            "drop-ops stats, median",
            f"{stats_ms:.1f} ms (as a command, with start-up: "
            f"{results['stats_ms']['command_with_startup_ms']} ms)",
            f"< {BARS['stats_ms']} ms",
            stats_ms < BARS["stats_ms"],
        ),
        (
            "dashboard cards (GET /ops/stats), median",
            f"{cards_ms:.1f} ms",
            f"< {BARS['cards_ms']} ms",
            cards_ms < BARS["cards_ms"],
        ),
        (
            "download p50, seeded / empty",
            f"{p50:.2f}x ({_medians(full, 'p50_ms')} vs {_medians(empty, 'p50_ms')} ms)",
            f"<= {BARS['latency_ratio']}x",
            p50 <= BARS["latency_ratio"],
        ),
        (
            "download p99, seeded / empty",
            f"{p99:.2f}x ({_medians(full, 'p99_ms')} vs {_medians(empty, 'p99_ms')} ms)",
            f"<= {BARS['latency_ratio']}x",
            p99 <= BARS["latency_ratio"],
        ),
    ]
    say(
        f"{results['drops']:,} drops, {results['blobs']:,} blobs "
        f"(seeded in {results['seed_seconds']} s), medians of {results['rounds']} rounds"
    )
    for label, figure, bar, ok in rows:
        print(f"{'  ' if ok else '!!'} {label:<44} {figure:<60} {bar}")
    print("(every run: bench/results/scale.json)")
    return 0 if all(ok for *_, ok in rows) else 1


def _medians(rounds: list[dict], key: str) -> str:
    return f"{statistics.median(r[key] for r in rounds):.2f}"


if __name__ == "__main__":
    sys.exit(main())
