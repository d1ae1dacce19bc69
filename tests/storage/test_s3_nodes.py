"""Two web nodes sharing only PostgreSQL, Redis and SeaweedFS, plus one Huey consumer.

Each node is its own gunicorn with its own data directory: whatever one node stored, the
other can only find through the database and the bucket (issue 10, acceptance 1 and 3).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from drop.clock import utcnow
from drop.db.models import Drop, MultipartUpload, init_database
from drop.drops import lifecycle as drops
from drop.ops import purge
from drop.storage import open_storage
from drop.storage.s3 import PART_BYTES
from tests.support.common import ROOT, LiveServer, wait_until

MIB = 1024 * 1024
SIMULTANEOUS = 32
# What a worker's first upload of many parts adds for good (see the test that uses it).
ONCE_AFTER_MANY_PARTS_KIB = 1024


@pytest.fixture
def backend() -> str:
    return "postgres"  # several nodes need a shared database


@pytest.fixture
def blob_store() -> str:
    return "s3"


@pytest.fixture
def nodes(config, tmp_path):
    """Node A (web) and node B (web and the Huey consumer), each with its own data dir."""
    other = dataclasses.replace(config, data_dir=tmp_path / "node-b")
    other.data_dir.mkdir()
    # No resume window: a one-time drop's object goes once its one download has been sent
    # (with one, it waits out the window: tests/storage/test_s3_resume.py).
    limit = {"DROP_MAX_UPLOAD_BYTES": str(64 * MIB), "DROP_RESUME_WINDOW": "0"}
    with LiveServer(config, **limit) as a, LiveServer(other, with_worker=True, **limit) as b:
        yield a, b


def put(server, content: bytes, **fields) -> dict:
    response = requests.put(
        server.url + "/api/v1.0/file", files={"file": ("f.bin", content)}, data=fields, timeout=60
    )
    assert response.status_code == 201, response.text
    return response.json()


def config_dir(server):
    return Path(server.env["DROP_DATA_DIR"])


def on(server, made: dict) -> str:
    return f"{server.url}/api/v1.0/file/{made['token']}"


def test_an_upload_on_one_node_downloads_identically_from_the_other(nodes, s3_store):
    a, b = nodes
    content = os.urandom(2 * PART_BYTES + 999)  # a multipart upload of three parts
    made = put(a, content, max_downloads=2)
    assert not any((config_dir(a) / "blobs").rglob("*"))  # nothing on A's own disk
    assert requests.get(on(b, made), timeout=60).content == content


def test_simultaneous_gets_over_both_nodes_grant_one_download(nodes, s3_store):
    a, b = nodes
    made = put(a, b"one time only " * 1000)
    key = f"{made['token'][:2]}/{made['token']}"
    start = threading.Barrier(SIMULTANEOUS)

    def get(number: int) -> requests.Response:
        start.wait()
        return requests.get(on((a, b)[number % 2], made), timeout=60)

    with ThreadPoolExecutor(SIMULTANEOUS) as pool:
        answers = list(pool.map(get, range(SIMULTANEOUS)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [410] * (SIMULTANEOUS - 1)
    # The consumer (on B) deletes the object once the one response has been sent.
    assert wait_until(lambda: key not in s3_store.object_keys(), timeout=30), b.log.read_text()


def test_a_node_killed_mid_upload_leaves_no_row_and_its_upload_is_aborted(nodes, s3_store, config):
    a, _ = nodes
    sent = 3 * PART_BYTES  # past two parts: a multipart upload is under way
    body_head = (
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="k.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", a.port)) as sock:
        sock.sendall(
            b"PUT /api/v1.0/file HTTP/1.1\r\nHost: a\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            + f"Content-Length: {len(body_head) + 6 * PART_BYTES}\r\n\r\n".encode()
            + body_head
        )
        chunk = os.urandom(MIB)
        for _ in range(sent // MIB):
            sock.sendall(chunk)
        assert wait_until(lambda: len(s3_store.multipart_uploads()) == 1, timeout=60)
        for pid in a.web_worker_pids() + [a.processes[0].pid]:
            os.kill(pid, signal.SIGKILL)
    init_database(config.effective_database_url)
    assert Drop.select().count() == 0
    assert MultipartUpload.select().count() == 1  # the dead node's upload, still open
    # The next reconciliation (the worker's, on any node) once the upload shows no life.
    later = utcnow() + datetime.timedelta(seconds=drops.STALE_TEMP_SECONDS + 60)
    storage = open_storage(config)
    found = purge.reconcile(storage, later)
    assert len(found.stale_temps) == 1
    purge.tidy(storage, found, later)
    assert s3_store.multipart_uploads() == []
    assert MultipartUpload.select().count() == 0


def upload_rss(store, *options: str) -> dict:
    """bench/upload_rss.py against the bucket: one gunicorn worker's peak RSS growth."""
    result = subprocess.run(
        [sys.executable, "bench/upload_rss.py", "--json", "--no-password", *options],
        cwd=ROOT,
        env={**os.environ, **store.env()},
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(result.stdout)


def test_uploads_to_s3_grow_the_worker_by_one_part_not_the_file(s3_store):
    figures = upload_rss(s3_store, "--then-mib", "1024")
    assert figures["file_bytes"] == 16 * MIB
    assert figures["upload_growth_kib"] < 24 * 1024, figures
    # A 1 GiB upload in the same worker does not raise the peak the 16 MiB one set, but for
    # what a worker's first upload of many parts leaves behind once, whatever the file's
    # size: Python objects in caches of bounded size (urllib's 128 parsed URLs, one a part;
    # botocore's models of the operations that end a multipart upload, about 280 KiB in
    # /proc/<pid>/smaps) and the body buffers' timing. What grew with the parts was glibc's
    # heap: once botocore's 1 MiB reads were freed its mmap threshold rose to 1 MiB, so the
    # upload's buffers moved into per-thread heaps a few KiB larger every part; the
    # workers now fix the thresholds (drop/runtime/allocator.py). Measured, 16 MiB / 1 GiB growth
    # in KiB: before 14068/14708, 13160/14184, 11444/12592; after 10008/10136, 9876/10132,
    # 10060/10316, 9968/10352, 10044/10044, 9840/10736.
    growth_16, growth_1g = figures["upload_growth_kib"], figures["growth_after_second_upload_kib"]
    assert growth_1g <= growth_16 + ONCE_AFTER_MANY_PARTS_KIB, figures
