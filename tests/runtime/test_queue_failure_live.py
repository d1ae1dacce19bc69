"""Redis failing under real gunicorn (and nginx): no claimed download becomes an error,
and a hung Redis costs only the first few requests anything.

Each test runs its own Redis (stopped at the moment of the last claim) or a hung one (a
socket that accepts and never answers), never the machine's shared server.
"""

from __future__ import annotations

import dataclasses
import datetime
import sqlite3
from contextlib import ExitStack

import pytest
import requests

from drop.clock import utcnow
from drop.config import Config
from drop.db.models import DOWNLOADED, Drop, db, init_database
from drop.drops import lifecycle as drops
from drop.ops.nginx_conf import nginx_values
from drop.runtime.breaker import FAILURES_TO_OPEN
from drop.storage.local import LocalStorage
from tests.support.common import UPLOAD, LiveServer, multipart, wait_until
from tests.support.nginx import Nginx
from tests.support.redis_server import HungRedis, OwnRedis

# Redis-backed: the machine's PostgreSQL, and a Redis of the test's own.
ON_POSTGRES = pytest.mark.parametrize("backend", ["postgres"])

ACCEL = "/_drop_blobs"
GRACE = 60
LEFT_TO_SWEEP = "left to the sweep: queueing its deletion failed"
# A local blob due at once is deleted by the web process itself, queue or not: a grace
# delay makes its deletion the queue's, which is what these tests break.
QUEUED = {"DROP_DELETE_GRACE_SECONDS": 1}


def put(url: str, content: bytes, **fields) -> requests.Response:
    body, headers = multipart(content, **fields)
    return requests.put(url + UPLOAD, data=body, headers=headers, timeout=30)


def sweep(config: Config, now: datetime.datetime, grace: int) -> drops.SweepReport:
    init_database(config.effective_database_url)
    with db.connection_context():
        return drops.sweep(LocalStorage(config.data_dir), now, grace)


def row_of(config: Config, token: str) -> Drop:
    init_database(config.effective_database_url)
    with db.connection_context():
        return Drop.get(Drop.token == token)


def web_log_lines(server: LiveServer) -> list[str]:
    return server.log.read_text().splitlines()


def log_after_the_warning(server: LiveServer) -> list[str]:
    """The web log once the deferred deletion has been tried (after the response's close)."""
    wait_until(lambda: LEFT_TO_SWEEP in server.log.read_text(), timeout=30)
    return web_log_lines(server)


@ON_POSTGRES
def test_direct_download_is_the_file_when_redis_stops_at_the_last_claim(config):
    with OwnRedis() as own:
        served = dataclasses.replace(config, redis_url=own.url)
        with LiveServer(served, workers=1, **QUEUED) as server:
            made = put(server.url, b"the one copy").json()
            own.stop()
            got = requests.get(made["url"], timeout=30)
            assert got.status_code == 200
            assert got.content == b"the one copy"
            assert requests.get(made["url"], timeout=30).status_code == 410
            lines = log_after_the_warning(server)
    assert row_of(served, made["token"]).status == DOWNLOADED
    assert sum(LEFT_TO_SWEEP in line for line in lines) == 1, lines
    assert not any("Traceback" in line for line in lines), lines
    assert sweep(served, utcnow(), 0).blobs_deleted == 1
    assert not LocalStorage(served.data_dir).exists(made["token"])


@ON_POSTGRES
def test_accel_download_through_nginx_is_the_file_when_redis_stops(config, tmp_path):
    with OwnRedis() as own, ExitStack() as stack:
        served = dataclasses.replace(config, redis_url=own.url)
        env = dict(DROP_ACCEL_REDIRECT=ACCEL, DROP_DELETE_GRACE_SECONDS=GRACE)
        server = stack.enter_context(LiveServer(served, workers=1, **env))
        values = nginx_values(
            Config.from_env(server.env),
            listen="-",
            server_name="-",
            upstream=f"127.0.0.1:{server.port}",
        )
        nginx = stack.enter_context(Nginx(tmp_path / "nginx", values))
        made = put(nginx.url, b"sent by nginx").json()
        own.stop()
        got = requests.get(f"{nginx.url}{UPLOAD}/{made['token']}", timeout=30)
        assert got.status_code == 200
        assert got.content == b"sent by nginx"
        lines = log_after_the_warning(server)
    token = made["token"]
    assert sum(LEFT_TO_SWEEP in line for line in lines) == 1, lines
    assert not any("Traceback" in line for line in lines), lines
    # The sweep keeps the blob for the grace delay, then deletes it.
    gone_at = row_of(served, token).gone_at
    almost = gone_at + datetime.timedelta(seconds=GRACE - 1)
    assert sweep(served, almost, GRACE).blobs_deleted == 0
    assert LocalStorage(served.data_dir).exists(token)
    later = gone_at + datetime.timedelta(seconds=GRACE + 1)
    assert sweep(served, later, GRACE).blobs_deleted == 1
    assert not LocalStorage(served.data_dir).exists(token)


@ON_POSTGRES
def test_a_hung_redis_is_skipped_after_the_first_few_calls(config):
    """After FAILURES_TO_OPEN timeouts the breaker opens, and no request touches Redis.

    Counted, not timed: the hung server sees no new connection and no byte while 404s,
    uploads, downloads, deletes and /readyz are answered. One web worker makes "the first
    few" exact; the breaker stays open far longer than the test runs.
    """
    with HungRedis() as hung:
        served = dataclasses.replace(config, redis_url=hung.url)
        with LiveServer(served, workers=1, DROP_REDIS_BREAKER_SECONDS=600, **QUEUED) as server:
            unknown = f"{server.url}{UPLOAD}/{'0' * 32}"
            for _ in range(FAILURES_TO_OPEN):
                assert requests.get(unknown, timeout=30).status_code == 404
            before = hung.touches()
            assert 1 <= before[0] <= FAILURES_TO_OPEN

            for number in range(10):
                made = put(server.url, f"file {number}".encode(), max_downloads=2)
                assert made.status_code == 201
                url, token = made.json()["url"], made.json()["token"]
                assert requests.get(unknown, timeout=30).status_code == 404
                assert requests.get(url, timeout=30).content == f"file {number}".encode()
                assert requests.get(url, timeout=30).status_code == 200  # the last one
                assert requests.get(url, timeout=30).status_code == 410
            other = put(server.url, b"deleted early").json()
            deleted = requests.delete(
                other["url"], headers={"X-Delete-Token": other["delete_token"]}, timeout=30
            )
            assert deleted.status_code == 204
            ready = requests.get(f"{server.url}/readyz", timeout=30)
            assert ready.status_code == 503
            assert ready.json()["failed"] == ["redis"]

            assert hung.touches() == before
        lines = web_log_lines(server)
    assert not any("Traceback" in line for line in lines), lines
    assert sweep(served, utcnow(), 0).blobs_deleted  # the skipped queue's blobs
    assert token not in {blob.token for blob in LocalStorage(served.data_dir).blob_tokens()}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_embedded_download_is_the_file_when_the_sqlite_queue_is_locked(config):
    """Embedded mode queues in SQLite (huey.sqlite3); another process holds its write lock."""
    with LiveServer(config, workers=1, **QUEUED) as server:
        made = put(server.url, b"embedded copy").json()
        queue = sqlite3.connect(config.data_dir / "huey.sqlite3", timeout=0)
        try:
            queue.execute("BEGIN EXCLUSIVE")
            got = requests.get(made["url"], timeout=60)
            # The deletion is queued once the response is sent: hold the lock until then.
            lines = log_after_the_warning(server)
        finally:
            queue.close()
        assert got.status_code == 200
        assert got.content == b"embedded copy"
    assert sum(LEFT_TO_SWEEP in line for line in lines) == 1, lines
    assert not any("Traceback" in line for line in lines), lines
    assert sweep(config, utcnow(), 0).blobs_deleted == 1
    assert not LocalStorage(config.data_dir).exists(made["token"])
