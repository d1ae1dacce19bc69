"""One tus upload over two web nodes on S3 (issue 11): each node is its own gunicorn with
its own data directory, sharing only PostgreSQL, Redis and SeaweedFS, so whatever one node
received the other can only find in the database and the bucket: chunks taking turns, a
killed client resumed on the other node, a chunk cut off on one node finished on the other."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from tusclient.client import TusClient

from drop.storage.s3 import PART_BYTES
from tests.support.common import LiveServer, wait_until
from tests.support.tus import CHUNK, TUS, UPLOADS, metadata
from tests.tus.test_tus_live import kill_after_chunks, raw_request_start, stored_drop

MIB = 1024 * 1024


@pytest.fixture
def backend() -> str:
    return "postgres"  # several nodes need a shared database


@pytest.fixture
def blob_store() -> str:
    return "s3"


@pytest.fixture
def nodes(config, tmp_path):
    """Node A and node B, each with a data directory of its own."""
    other = dataclasses.replace(config, data_dir=tmp_path / "node-b")
    other.data_dir.mkdir()
    limit = {"DROP_MAX_UPLOAD_BYTES": str(64 * MIB)}
    with LiveServer(config, **limit) as a, LiveServer(other, **limit) as b:
        yield a, b
    for node in (a, b):
        log = node.log.read_text(errors="replace")
        assert "Traceback" not in log, log[-5000:]
        assert '" 500 ' not in log


def nothing_on_disk(node) -> bool:
    data_dir = Path(node.env["DROP_DATA_DIR"])
    return not [p for p in (data_dir / "uploads").rglob("*") if p.is_file()]


def on(node, url: str) -> str:
    """The same path on `node`."""
    return node.url + urlsplit(url).path


def head_offset(url: str) -> int:
    answer = requests.head(url, headers=TUS, timeout=10)
    assert answer.status_code == 200, answer.status_code
    return int(answer.headers["Upload-Offset"])


def test_patches_alternating_between_two_nodes_make_one_drop(nodes, s3_store, config):
    a, b = nodes
    content = os.urandom(3 * PART_BYTES + 5 * MIB + 321)  # 29 MiB and a bit
    chunk = 5 * MIB + 1000  # never a whole part: every PATCH leaves a tail or ends one
    made = requests.post(
        a.url + UPLOADS,
        headers={
            **TUS,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": metadata(filename="big.bin", max_downloads="2"),
        },
        timeout=10,
    )
    assert made.status_code == 201, made.text
    url = made.headers["Location"]
    offset, turn = 0, 0
    while offset < len(content):
        node = (a, b)[turn % 2]
        assert head_offset(on(node, url)) == offset  # each node sees where the other got
        answer = requests.patch(
            on(node, url),
            data=content[offset : offset + chunk],
            headers={**CHUNK, "Upload-Offset": str(offset)},
            timeout=60,
        )
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["Upload-Offset"])
        turn += 1
    assert turn == 6
    token = answer.headers["Drop-Url"].rsplit("/", 1)[1]
    sha256 = hashlib.sha256(content).hexdigest()
    assert stored_drop(config, token) == (len(content), sha256)
    for node in (a, b):  # two downloads allowed: one from each
        download = requests.get(f"{node.url}/api/v1.0/file/{token}", timeout=60)
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == sha256
    assert nothing_on_disk(a) and nothing_on_disk(b)
    assert s3_store.multipart_uploads() == []
    assert s3_store.object_keys() == [f"{token[:2]}/{token}"]


def test_a_client_killed_on_one_node_resumes_on_the_other(nodes, s3_store, config, tmp_path):
    a, b = nodes
    content = os.urandom(36 * MIB + 4321)
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    # tuspy sends 5 MiB chunks (tests/tus/test_tus_live.py): killed once three are acknowledged.
    url, offsets = kill_after_chunks(a.url + UPLOADS, source, 3)
    assert offsets == [5 * MIB, 10 * MIB, 15 * MIB]
    # A new client, on node B, asks where to go on; the killed one may have been sending
    # its fourth chunk to A, which keeps what arrived (a retry covers the lease still held).
    resumed = TusClient(b.url + UPLOADS).uploader(
        str(source), url=on(b, url), chunk_size=5 * MIB + 77, retries=10, retry_delay=1
    )
    assert 15 * MIB <= resumed.offset < len(content)
    resumed.upload()
    links = resumed.request.response_headers
    token = links["drop-url"].rsplit("/", 1)[1]
    sha256 = hashlib.sha256(content).hexdigest()
    assert stored_drop(config, token) == (len(content), sha256)
    # The one download the drop allows, from the node the upload began on.
    download = requests.get(f"{a.url}/api/v1.0/file/{token}", timeout=60)
    assert download.status_code == 200
    assert download.content == content
    assert nothing_on_disk(a) and nothing_on_disk(b)
    assert s3_store.multipart_uploads() == []


def test_a_chunk_cut_off_on_one_node_keeps_its_parts_and_tail_for_the_other(nodes, s3_store):
    a, b = nodes
    content = os.urandom(2 * PART_BYTES + 3 * MIB)
    arrived = PART_BYTES + MIB + 12345  # one part and a tail
    made = requests.post(
        a.url + UPLOADS, headers={**TUS, "Upload-Length": str(len(content))}, timeout=10
    )
    url = made.headers["Location"]
    sock = raw_request_start(
        a.url,
        "PATCH",
        urlsplit(url).path,
        {**CHUNK, "Upload-Offset": "0", "Content-Length": str(len(content))},
        content[:arrived],
    )
    sock.close()  # the client is gone, far short of its Content-Length
    assert wait_until(lambda: head_offset(on(b, url)) == arrived, timeout=30)
    done = requests.patch(
        on(b, url), data=content[arrived:], headers={**CHUNK, "Upload-Offset": str(arrived)}
    )
    assert done.status_code == 204, done.text
    assert requests.get(done.headers["Drop-Url"], timeout=60).content == content
    assert s3_store.multipart_uploads() == []
