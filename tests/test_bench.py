"""The benchmark's own parts: the bare baseline app answers as drop would, and a run with
wrong answers is never taken for a measure. (No timing here: the benchmark is `make bench`.)"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests

from bench.ab import worktree
from bench.bare_app import create_app
from bench.targets import Fixtures, start_drop
from bench.wrk import measure_from_wrk


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def bare(tmp_path):
    """The bare app under wsgiref (which provides wsgi.file_wrapper), on 127.0.0.1."""
    files = tmp_path / "files"
    uploads = tmp_path / "uploads"
    files.mkdir()
    uploads.mkdir()
    server = make_server("127.0.0.1", 0, create_app(files, uploads), handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", files, uploads
    server.shutdown()
    server.server_close()


def test_bare_app_serves_a_file_whole(bare):
    url, files, _ = bare
    content = bytes(range(256)) * 4096  # 1 MiB: more than one file_wrapper block
    (files / "blob.bin").write_bytes(content)
    got = requests.get(f"{url}/files/blob.bin", timeout=10)
    assert got.status_code == 200
    assert got.headers["Content-Length"] == str(len(content))
    assert got.content == content


def test_bare_app_answers_json_404_for_an_unknown_path(bare):
    url, _, _ = bare
    for path in ("/api/v1.0/file/" + "0" * 32, "/files/missing.bin", "/files/../files"):
        got = requests.get(url + path, timeout=10)
        assert got.status_code == 404, path
        assert got.json() == {"error": "Not Found"}


def test_bare_app_stores_an_upload_body_byte_for_byte(bare):
    url, _, uploads = bare
    body = b"--x\r\n" + bytes(range(256)) * 8192 + b"\r\n--x--\r\n"  # over two 1 MiB reads
    made = requests.put(f"{url}/api/v1.0/file", data=body, timeout=10)
    assert made.status_code == 201
    stored = uploads / made.json()["stored"]
    assert stored.read_bytes() == body


def test_bare_app_makes_its_round_trips_to_redis_before_answering(tmp_path, redis_client):
    (tmp_path / "1k.bin").write_bytes(b"x" * 1024)
    port = redis_client.connection_pool.connection_kwargs["port"]
    app = create_app(tmp_path, tmp_path, round_trips=3, redis_port=port)
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pings = redis_client.info("commandstats").get("cmdstat_ping", {}).get("calls", 0)
    try:
        got = requests.get(f"http://127.0.0.1:{server.server_port}/files/1k.bin", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert (got.status_code, len(got.content)) == (200, 1024)
    assert redis_client.info("commandstats")["cmdstat_ping"]["calls"] - pings == 3


def wrk_result(requests_done=1000, status_errors=0, statuses=None, **socket_errors) -> dict:
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": status_errors}
    errors.update(socket_errors)
    return {
        "requests": requests_done,
        "duration_us": 5_000_000,
        "bytes": 1024 * requests_done,
        "errors": errors,
        "latency_us": {"mean": 1000.0, "p50": 900, "p99": 3000, "max": 4000},
        "statuses": statuses or {},
    }


def test_bench_counts_only_right_answers_as_throughput():
    measure = measure_from_wrk(wrk_result(1000, status_errors=400), expect_status=None)
    assert measure.expected == 600
    assert measure.requests_per_second == 120
    assert measure.unexpected == {"non-2xx/3xx": 400}
    assert not measure.trustworthy


def test_bench_flags_a_404_run_that_got_500s():
    raw = wrk_result(1000, status_errors=1000, statuses={"404": 900, "500": 100})
    measure = measure_from_wrk(raw, expect_status=404)
    assert measure.expected == 900
    assert measure.unexpected == {"500": 100}
    assert not measure.trustworthy


def test_bench_flags_socket_errors():
    measure = measure_from_wrk(wrk_result(1000, read=200), expect_status=None)
    assert measure.unexpected == {"read": 200}
    assert not measure.trustworthy


def test_bench_trusts_a_clean_run():
    raw = wrk_result(1000, status_errors=1000, statuses={"404": 1000})
    measure = measure_from_wrk(raw, expect_status=404)
    assert measure.trustworthy
    assert measure.unexpected == {}


def test_bench_ab_runs_each_side_from_its_own_checkout(tmp_path):
    """bench/ab.py's sides: a drop started with `root` runs that checkout's code and serves
    the drops it made, and the checkout goes again afterwards."""
    with worktree("HEAD", tmp_path / "tree") as root:
        health = root / "drop" / "resources" / "health.py"
        health.write_text(health.read_text().replace('OK = "ok"', 'OK = "ok from the worktree"'))
        fixtures = Fixtures(tmp_path / "fixtures")
        target = start_drop("sqlite", fixtures, tmp_path / "run", root)
        try:
            answer = requests.get(target.server.url + "/healthz", timeout=10).json()
            first_drop = target.small_paths.read_text().split()[0]
            served = requests.get(target.server.url + first_drop, timeout=10).content
        finally:
            target.server.stop()
    assert answer["status"] == "ok from the worktree"
    assert served == fixtures.small
    assert not root.exists()
