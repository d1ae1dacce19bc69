"""Real gunicorn and a real Huey consumer, as separate processes, on both backends."""

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.common import ROOT, UPLOAD, LiveServer, multipart, wait_until

SIMULTANEOUS = 32


def put(server, content: bytes, **fields):
    response = requests.put(
        server.url + "/api/v1.0/file", files={"file": ("f.bin", content)}, data=fields, timeout=30
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_consumer_deletes_the_blob_after_the_download(config):
    # A second's resume window: the used-up blob goes when it closes.
    with LiveServer(config, with_worker=True, DROP_RESUME_WINDOW=1) as server:
        made = put(server, b"handled by two processes")
        blob = config.data_dir / "blobs" / made["token"][:2] / made["token"]
        assert blob.exists()
        got = requests.get(made["url"], timeout=30)
        assert got.content == b"handled by two processes"
        assert wait_until(lambda: not blob.exists(), timeout=30), server.log.read_text()
        assert requests.get(made["url"], timeout=30).status_code == 410


def simultaneous_gets(url: str, count: int) -> list[requests.Response]:
    start = threading.Barrier(count)

    def get(_):
        start.wait()
        return requests.get(url, timeout=60)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(get, range(count)))


@pytest.mark.parametrize("max_downloads", [1, 3])
def test_simultaneous_gets_never_exceed_max_downloads(config, max_downloads):
    payload = b"only so many " * 1000
    threads = ["--worker-class", "gthread", "--threads", "8"]
    with LiveServer(config, workers=4, gunicorn_args=threads) as server:
        made = put(server, payload, max_downloads=max_downloads)
        answers = simultaneous_gets(made["url"], SIMULTANEOUS)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * max_downloads + [410] * (SIMULTANEOUS - max_downloads)
    assert all(a.content == payload for a in answers if a.status_code == 200)


def chunked(body: bytes, size: int = 16 * 1024):
    """A body without Content-Length: requests sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_upload_is_stored_and_downloads_intact(config):
    content = os.urandom(300 * 1024)
    body, headers = multipart(content, filename="chunked.bin")
    with LiveServer(config) as server:
        made = requests.put(server.url + UPLOAD, data=chunked(body), headers=headers, timeout=30)
        assert made.status_code == 201, made.text
        assert requests.get(made.json()["url"], timeout=30).content == content


def test_a_chunked_upload_over_the_limit_is_stopped_by_the_byte_counter(config):
    """A chunked body cannot be refused by its Content-Length; the counter refuses it."""
    body, headers = multipart(os.urandom(64 * 1024 + 1))
    with LiveServer(config, DROP_MAX_UPLOAD_BYTES=64 * 1024) as server:
        refused = requests.put(server.url + UPLOAD, data=chunked(body), headers=headers, timeout=30)
        assert refused.status_code == 413
        assert refused.json()["error"] == "Payload Too Large"
    assert list((config.data_dir / "tmp").iterdir()) == []
    assert not any((config.data_dir / "blobs").rglob("*/*"))


def test_password_never_reaches_the_access_log(config):
    with LiveServer(config) as server:
        made = put(server, b"x", password="hunter2-secret")
        requests.get(made["url"], params={"password": "hunter2-secret"}, timeout=30)
        requests.get(made["url"], params={"password": "wrong-guess"}, timeout=30)
    log = server.log.read_text()
    assert f"GET /api/v1.0/file/{made['token'][:8]}... " in log
    assert "hunter2" not in log and "wrong-guess" not in log


def upload_rss(*options: str) -> dict:
    """Runs bench/upload_rss.py, the script anyone can rerun, and returns its measurement."""
    result = subprocess.run(
        [sys.executable, "bench/upload_rss.py", "--json", "--no-password", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(result.stdout)
    assert figures["file_bytes"] == 16 * 1024 * 1024
    return figures


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_16_mib_upload_grows_the_worker_peak_rss_by_less_than_8_mib(backend):
    figures = upload_rss()
    assert figures["upload_growth_kib"] < 8 * 1024, figures


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_256_mib_upload_grows_the_worker_no_more_than_a_16_mib_one(backend):
    figures = upload_rss("--then-mib", "256")
    assert figures["second_file_bytes"] == 256 * 1024 * 1024
    # In the same worker, after a 16 MiB upload, the peak barely moves: the growth is a
    # fixed overhead of receive buffers. How large those are varies with timing (gunicorn
    # reads up to 1 MiB at once when the socket holds that much, as on a busy machine),
    # never with the file's size; buffering the file would add hundreds of MiB.
    growth_16, growth_256 = figures["upload_growth_kib"], figures["growth_after_second_upload_kib"]
    assert growth_256 <= growth_16 + 1536, figures
