"""Issue 12, acceptance 5: the dashboard charts' data query with 1,000,000 drops and a week
of events, on PostgreSQL.

    make bench-charts        # or: .venv/bin/python -m bench.charts

In a database of its own (BENCH_CHARTS_DATABASE_URL, local and named *bench*, created
afresh and dropped at the end) it seeds, with a few INSERT … SELECT statements:
BENCH_CHARTS_DROPS drops (1,000,000) created over the last 7 days, as many download events
over the same week, and the hourly_stat rows that correspond to them (uploads, bytes in,
downloads and bytes out by hour, from the rows; 4xx and blocked answers made up in
proportion). Then it times, BENCH_CHARTS_RUNS times each (median and 95th percentile):

- the charts' data query (drop.ops.hourly_counts.read_hours over the week: the bar is 50 ms);
- building the charts from it (drop.ops.trends.week_charts: the query and the series);
- GET /ops/charts, the fragment the dashboard polls, through real gunicorn
  (drop.wsgi:app, ops/gunicorn.conf.py), logged in, rendering and HTTP included;

and prints PostgreSQL's plan for the query. Exits 1 when the query's median is over the bar.
Results also go to bench/results/charts.json.
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import requests

from bench.servers import ROOT, Gunicorn, server_env
from bench.targets import LOOPBACK

DATABASE_URL = os.environ.get(
    "BENCH_CHARTS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/drop_bench_charts"
)
DROPS = int(os.environ.get("BENCH_CHARTS_DROPS", "1000000"))
RUNS = int(os.environ.get("BENCH_CHARTS_RUNS", "200"))
BAR_MS = 50.0
ADMIN_TOKEN = "bench-charts-admin-token"
RESULTS = ROOT / "bench" / "results" / "charts.json"
WEEK_SECONDS = 7 * 24 * 3600


def say(message: str) -> None:
    print(message, flush=True)


def admin_connection(url: str):
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or "bench" not in parts.path:
        raise SystemExit(f"BENCH_CHARTS_DATABASE_URL must be local and named *bench*: {url}")
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True  # CREATE and DROP DATABASE refuse to run in a transaction
    return admin, parts.path.lstrip("/")


def recreate_database(url: str) -> None:
    admin, name = admin_connection(url)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def drop_database(url: str) -> None:
    admin, name = admin_connection(url)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


# Drops created evenly over the week before `now` (%(now)s), a third of them downloaded
# once, those older than a day expired; a download event for each drop's slot in the week.
SEED_DROPS = """
INSERT INTO "drop" ("token", "filename", "content_type", "size", "sha256", "password_hash",
    "delete_token_hash", "created_at", "expires_at", "max_downloads", "downloads", "status",
    "gone_at")
SELECT md5(i::text), 'file-' || i || '.bin', 'application/octet-stream',
    1 + (i::bigint * 7919) %% 1000000, repeat('0', 64), NULL, repeat('0', 64), created,
    created + interval '1 day', 1,
    CASE WHEN i %% 3 = 0 THEN 1 ELSE 0 END,
    CASE WHEN i %% 3 = 0 THEN 'downloaded'
         WHEN created < %(now)s - interval '1 day' THEN 'expired' ELSE 'live' END,
    CASE WHEN i %% 3 = 0 THEN created + interval '5 minutes'
         WHEN created < %(now)s - interval '1 day' THEN created + interval '1 day' END
FROM generate_series(1, %(count)s) AS i,
    LATERAL (SELECT %(now)s - (i::bigint * %(week)s / %(count)s) * interval '1 second'
        AS created) AS t
"""
SEED_EVENTS = """
INSERT INTO "download_event" ("downloaded_at")
SELECT %(now)s - (i::bigint * %(week)s / %(count)s) * interval '1 second'
FROM generate_series(1, %(count)s) AS i
"""
# What the web processes would have counted for that traffic.
SEED_HOURLY = """
INSERT INTO "hourly_stat" ("hour", "metric", "value")
SELECT date_trunc('hour', "created_at"), 'uploads', count(*) FROM "drop" GROUP BY 1
UNION ALL SELECT date_trunc('hour', "created_at"), 'bytes_in', sum("size") FROM "drop" GROUP BY 1
UNION ALL SELECT date_trunc('hour', "downloaded_at"), 'downloads', count(*)
    FROM "download_event" GROUP BY 1
UNION ALL SELECT date_trunc('hour', "created_at"), 'bytes_out', sum("size") * 3
    FROM "drop" WHERE "downloads" > 0 GROUP BY 1
UNION ALL SELECT date_trunc('hour', "created_at"), 'answers_4xx', count(*) / 10
    FROM "drop" GROUP BY 1
UNION ALL SELECT date_trunc('hour', "created_at"), 'blocked', count(*) / 100
    FROM "drop" GROUP BY 1
"""


def seed(url: str, now: datetime.datetime) -> dict[str, int]:
    values = {"now": now, "count": DROPS, "week": WEEK_SECONDS}
    connection = psycopg2.connect(url)
    counts = {}
    with connection, connection.cursor() as cursor:
        for table, sql in (
            ("drop", SEED_DROPS),
            ("download_event", SEED_EVENTS),
            ("hourly_stat", SEED_HOURLY),
        ):
            started = time.perf_counter()
            cursor.execute(sql, values)
            counts[table] = cursor.rowcount
            say(f"  {cursor.rowcount:>9,} rows in {table} ({time.perf_counter() - started:.1f} s)")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute('VACUUM ANALYZE "drop", "download_event", "hourly_stat"')
    connection.close()
    return counts


def timed(action, runs: int = RUNS) -> dict[str, float]:
    """Milliseconds: median and 95th percentile of `runs` calls (after 5 to warm up)."""
    for _ in range(5):
        action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3),
        "runs": runs,
    }


def time_query(url: str, now: datetime.datetime) -> tuple[dict, dict, int, str]:
    from drop.db.models import db, init_database
    from drop.ops.hourly_counts import hour_of, read_hours
    from drop.ops.trends import HOURS, week_charts

    init_database(url)
    last = hour_of(now.replace(tzinfo=datetime.UTC).timestamp())
    first = last - datetime.timedelta(hours=HOURS - 1)
    with db.connection_context():
        rows = len(read_hours(first, last))
        query = timed(lambda: read_hours(first, last))
        charts = timed(lambda: week_charts(now))
        plan = db.execute_sql(
            'EXPLAIN ANALYZE SELECT * FROM "hourly_stat" WHERE "hour" BETWEEN %s AND %s',
            (first, last),
        ).fetchall()
    return query, charts, rows, "\n".join(line for (line,) in plan)


def time_fragment(url: str, workdir: Path) -> dict:
    env = server_env(
        DROP_DATABASE_URL=url,
        DROP_DATA_DIR=str(workdir / "data"),
        DROP_ADMIN_TOKEN=ADMIN_TOKEN,
        DROP_WEB_WORKERS="2",
        DROP_LOG_FORMAT="text",
    )
    server = Gunicorn("drop-charts", "drop.wsgi:app", env, workdir)
    server.start("/healthz")
    try:
        session = requests.Session()
        login = session.post(
            server.url + "/ops/login", data={"token": ADMIN_TOKEN}, allow_redirects=False
        )
        if login.status_code != 303:
            raise SystemExit(f"could not log in to the dashboard: {login.status_code}")
        first = session.get(server.url + "/ops/charts", timeout=30)
        if first.status_code != 200 or first.text.count("<svg ") != 3:
            raise SystemExit(f"GET /ops/charts answered {first.status_code} without 3 charts")
        result = timed(lambda: session.get(server.url + "/ops/charts", timeout=30), runs=RUNS // 2)
        result["bytes"] = len(first.content)
        return result
    finally:
        server.stop()


def main() -> int:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    started = time.perf_counter()
    say(f"database {DATABASE_URL}: {DROPS:,} drops and {DROPS:,} download events over 7 days")
    recreate_database(DATABASE_URL)
    try:
        subprocess.run(
            [sys.executable, "-m", "drop.cli", "migrate"],
            env=server_env(DROP_DATABASE_URL=DATABASE_URL, DROP_DATA_DIR=tempfile.gettempdir()),
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        counts = seed(DATABASE_URL, now)
        query, charts, rows, plan = time_query(DATABASE_URL, now)
        with tempfile.TemporaryDirectory(prefix="drop-bench-charts-") as workdir:
            fragment = time_fragment(DATABASE_URL, Path(workdir))
    finally:
        drop_database(DATABASE_URL)
    passed = query["median_ms"] < BAR_MS
    say(f"\nthe charts' data query ({rows} rows of hourly_stat, {RUNS} runs):")
    say(
        f"  median {query['median_ms']:.2f} ms, p95 {query['p95_ms']:.2f} ms"
        f"   bar: under {BAR_MS:.0f} ms  {'ok' if passed else '!! OVER'}"
    )
    say(
        f"the charts built (query + series): median {charts['median_ms']:.2f} ms, "
        f"p95 {charts['p95_ms']:.2f} ms"
    )
    say(
        f"GET /ops/charts through gunicorn ({fragment['bytes']:,} bytes, {fragment['runs']} "
        f"runs): median {fragment['median_ms']:.2f} ms, p95 {fragment['p95_ms']:.2f} ms"
    )
    # hourly_stat holds at most 8 days × 6 metrics (the worker trims it): PostgreSQL may
    # well read all of it rather than its index, which costs the same at this size.
    say(
        "PostgreSQL's plan (hourly_stat holds at most 8 days of rows):\n  "
        + plan.replace("\n", "\n  ")
    )
    load = os.getloadavg()[0]
    say(
        f"\n(seeded, measured and dropped in {time.perf_counter() - started:.0f} s; "
        f"{os.cpu_count()} cores, load average {load:.1f})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": now.isoformat(timespec="seconds") + "Z",
                "seeded": counts,
                "query": query,
                "charts": charts,
                "fragment_get": fragment,
                "hourly_rows_read": rows,
                "plan": plan,
                "bar_ms": BAR_MS,
                "cores": os.cpu_count(),
                "load_average": load,
                "passed": passed,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
