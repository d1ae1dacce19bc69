"""Hourly counts from real gunicorn workers: each flushes on its own, and they add up."""

from __future__ import annotations

import requests

from drop.db.models import open_database
from drop.ops.hourly_counts import HourlyStat
from tests.support.common import UPLOAD, LiveServer, wait_until

UPLOADS = 6
NOT_FOUND = 5


def totals(config) -> dict[str, int]:
    database = open_database(config.effective_database_url)
    with database, database.bind_ctx([HourlyStat]):
        summed: dict[str, int] = {}
        for row in HourlyStat.select():
            summed[row.metric] = summed.get(row.metric, 0) + row.value
        return summed


def traffic(server) -> dict[str, int]:
    """Uploads, downloads and 404s on new connections, so both workers take some."""
    for n in range(UPLOADS):
        made = requests.put(
            server.url + UPLOAD, files={"file": ("f.bin", b"x" * (100 + n))}, timeout=10
        )
        assert made.status_code == 201
        assert requests.get(made.json()["url"], timeout=10).status_code == 200
    for _ in range(NOT_FOUND):
        assert requests.get(server.url + UPLOAD + "/" + "0" * 32, timeout=10).status_code == 404
    size = sum(100 + n for n in range(UPLOADS))
    return {"uploads": UPLOADS, "bytes_in": size, "downloads": UPLOADS, "bytes_out": size}


def counted_as_expected(config, expected: dict[str, int]) -> bool:
    got = totals(config)
    transfers = {metric: got.get(metric) for metric in expected}
    # LiveServer's own readiness probes (GET /api/v1.0/file/x) are 404s too.
    return transfers == expected and got.get("answers_4xx", 0) > NOT_FOUND


def test_workers_flush_their_counts_every_few_seconds(config):
    with LiveServer(config, workers=2, DROP_STATS_FLUSH_SECONDS=1) as server:
        expected = traffic(server)
        assert wait_until(lambda: counted_as_expected(config, expected), timeout=20), totals(config)


def test_a_stopping_worker_writes_what_it_counted(config):
    """The interval is long; stopping the server (SIGTERM, as systemd does) flushes."""
    with LiveServer(config, workers=2, DROP_STATS_FLUSH_SECONDS=300) as server:
        expected = traffic(server)
        assert totals(config) == {}
    assert counted_as_expected(config, expected), totals(config)
