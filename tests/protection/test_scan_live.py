"""Malware scanning end to end: real gunicorn, a real Huey consumer and a real clamd with the
tests' own signatures, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import time

import requests

from tests.support.clamd_server import EICAR, MALWARE
from tests.support.common import UPLOAD, LiveServer, multipart, wait_until
from tests.web.test_metrics import samples, value

CLEAN = b"nothing wrong with this one\n" * 100


def put(server, content: bytes, **fields) -> dict:
    body, headers = multipart(content, **fields)
    made = requests.put(server.url + UPLOAD, data=body, headers=headers, timeout=10)
    assert made.status_code == 201, made.text
    return made.json()


def statuses_until_settled(url: str, timeout: float = 20) -> list[int]:
    """GET `url` until it stops answering 423; every status seen, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(requests.get(url, timeout=10).status_code)
        if seen[-1] != 423:
            break
        time.sleep(0.05)
    return seen


def scanning_server(config, clamd, **env) -> LiveServer:
    return LiveServer(
        config,
        workers=1,
        with_worker=True,
        DROP_CLAMD_SOCKET=clamd.socket_path,
        # Retries 1, 2, 4… seconds after a failure: a test waits seconds, not minutes.
        DROP_SCAN_RETRY_DELAY=1,
        **env,
    )


def test_hold_mode_serves_clean_files_and_never_infected_ones(config, clamd):
    with scanning_server(config, clamd) as server:
        bad = put(server, MALWARE, max_downloads=5)
        eicar = put(server, b"header " + EICAR, max_downloads=5)
        good = put(server, CLEAN)
        for made in (bad, eicar):
            seen = statuses_until_settled(made["url"])
            assert set(seen) <= {423, 451} and seen[-1] == 451, seen
            page = requests.get(made["share_url"], headers={"Accept": "text/html"}, timeout=10)
            assert page.status_code == 451 and "malware" in page.text
        seen = statuses_until_settled(good["url"])
        assert set(seen[:-1]) <= {423} and seen[-1] == 200, seen
        assert requests.get(good["share_url"], timeout=10).status_code == 410  # used up
        counted = samples(requests.get(server.url + "/metrics", timeout=10).text)
    assert value(counted, "drop_scans_total", result="infected") == 2
    assert value(counted, "drop_scans_total", result="clean") == 1
    assert not list((config.data_dir / "blobs").glob(f"*/{bad['token']}"))
    assert (config.data_dir / "quarantine" / bad["token"]).read_bytes() == MALWARE


def test_hold_mode_keeps_uploads_pending_while_clamd_is_down(config, own_clamd):
    own_clamd.stop()
    with scanning_server(config, own_clamd) as server:
        made = put(server, CLEAN)
        # The upload is kept; the worker's scan keeps failing; nothing is served.
        assert requests.get(server.url + "/readyz", timeout=10).json()["degraded"] == ["scanner"]
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            assert requests.get(made["url"], timeout=10).status_code == 423
            time.sleep(0.2)
        own_clamd.start()
        # A retry of the scan task finds clamd back.
        assert wait_until(
            lambda: requests.get(made["url"], timeout=10).status_code != 423, timeout=30
        ), server.log.read_text()[-3000:]
        got = requests.get(made["url"], timeout=10)
    assert got.status_code == 410  # the first GET above, the one that was not 423, downloaded it


def test_after_mode_serves_while_clamd_is_down_and_revokes_once_it_returns(config, own_clamd):
    own_clamd.stop()
    with scanning_server(config, own_clamd, DROP_SCAN_MODE="after") as server:
        made = put(server, MALWARE, max_downloads=100)
        served = requests.get(made["url"], timeout=10)
        assert served.status_code == 200 and served.content == MALWARE
        own_clamd.start()
        assert wait_until(
            lambda: requests.get(made["url"], timeout=10).status_code == 451, timeout=30
        ), server.log.read_text()[-3000:]
        assert requests.get(made["share_url"], timeout=10).status_code == 451
