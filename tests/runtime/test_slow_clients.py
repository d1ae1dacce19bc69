"""Slow and idle clients cannot stop the service, directly or behind the shipped nginx.

gunicorn runs with ops/gunicorn.conf.py's defaults, as `make run` starts it (worker
count, threads, timeouts), on the embedded default. While 200 idle connections, 50
trickled request heads and 20 uploads at 1 KiB/s are open, health checks and downloads
are answered at once; the slow clients are dropped by their deadlines and leave no
temp file behind.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
import requests

from drop.config import Config
from drop.ops.nginx_conf import nginx_values
from tests.support.common import UPLOAD, LiveServer, multipart
from tests.support.nginx import Nginx
from tests.support.slow_clients import IdleConnection, SlowHead, SlowUpload, join_all, start_all

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

PROMPT = 1.0  # seconds within which each health check and download must be answered
KEEPALIVE = 5  # ops/gunicorn.conf.py: a connection without a request byte is closed
HEADER_TIMEOUT = Config.header_timeout
# An upload at 1 KiB/s against the 4 KiB/s minimum: client_timeout + t/4 = t.
UPLOAD_DEADLINE = Config.client_timeout * 4 / 3
SLACK = 8.0  # the poller checks deadlines once a second, and the machine is shared


def create_drops(url: str, count: int) -> list[str]:
    links = []
    for index in range(count):
        body, headers = multipart(f"file {index}".encode() * 100)
        made = requests.put(url + UPLOAD, data=body, headers=headers, timeout=10)
        assert made.status_code == 201, made.text
        links.append(made.json()["url"])
    return links


def timed_get(url: str) -> tuple[float, requests.Response]:
    started = time.monotonic()
    answer = requests.get(url, timeout=10)
    return time.monotonic() - started, answer


def hold_slow_clients_and_serve(port: int, url: str, links: list[str], temp_dir) -> None:
    idle = [IdleConnection(port) for _ in range(200)]
    heads = [SlowHead(port) for _ in range(50)]
    uploads = [SlowUpload(port) for _ in range(20)]
    everyone = idle + heads + uploads
    start_all(everyone)
    time.sleep(2)  # every slow client is connected and trickling

    for _ in range(100):
        took, answer = timed_get(url + "/healthz")
        assert answer.status_code == 200
        assert took < PROMPT, f"/healthz took {took:.2f}s behind slow clients"
    for link in links:
        took, answer = timed_get(link)
        assert answer.status_code == 200
        assert took < PROMPT, f"a download took {took:.2f}s behind slow clients"

    join_all(everyone, timeout=UPLOAD_DEADLINE + 2 * SLACK)
    assert all(client.dropped_after is not None for client in everyone), "a slow client stayed"
    assert max(client.dropped_after for client in idle) < HEADER_TIMEOUT + SLACK
    assert max(client.dropped_after for client in heads) < HEADER_TIMEOUT + SLACK
    assert max(client.dropped_after for client in uploads) < UPLOAD_DEADLINE + SLACK
    for client in uploads:
        assert client.answer.startswith(b"HTTP/1.1 408"), client.answer[:200]
    assert list(temp_dir.iterdir()) == []


def test_slow_clients_are_dropped_while_others_are_served(config):
    with LiveServer(config, workers=None) as server:
        links = create_drops(server.url, 20)
        hold_slow_clients_and_serve(server.port, server.url, links, config.data_dir / "tmp")
        log = server.log.read_text()
    assert "Traceback" not in log


def test_slow_clients_are_dropped_behind_nginx(config, tmp_path):
    env = {"DROP_ACCEL_REDIRECT": "/_drop_blobs"}
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(config, workers=None, **env))
        values = nginx_values(
            Config.from_env(server.env),
            listen="-",
            server_name="-",
            upstream=f"127.0.0.1:{server.port}",
        )
        nginx = stack.enter_context(Nginx(tmp_path / "nginx", values, worker_connections=1024))
        links = create_drops(nginx.url, 20)
        hold_slow_clients_and_serve(nginx.port, nginx.url, links, config.data_dir / "tmp")
        log = server.log.read_text()
    assert "Traceback" not in log
