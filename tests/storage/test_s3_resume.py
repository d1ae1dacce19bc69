"""Resuming a granted download with blobs in S3 and no nginx: drop asks the store for the
range alone (GetObject with Range) and answers 206; no download is used. A download or a
resume that sends the last byte deletes the object at once."""

from __future__ import annotations

import os

import pytest

from drop.db.models import Drop
from tests.support.common import upload
from tests.support.cut_downloads import cut

CONTENT = os.urandom(300 * 1024)


@pytest.fixture
def blob_store() -> str:
    return "s3"


def path(token: str) -> str:
    return f"/api/v1.0/file/{token}"


def test_a_resume_on_s3_is_206_with_the_range_and_uses_no_download(client, s3_store):
    token = upload(client, CONTENT).json["token"]
    first = cut(client, path(token))  # the connection breaks after the first chunk
    assert first.status == 200
    etag = first.headers["etag"]
    assert client.simulate_get(path(token)).status_code == 410  # used up for everyone else
    resumed = client.simulate_get(path(token), headers={"Range": "bytes=200000-", "If-Range": etag})
    assert resumed.status_code == 206
    assert resumed.content == CONTENT[200_000:]
    total = len(CONTENT)
    assert resumed.headers["Content-Range"] == f"bytes 200000-{total - 1}/{total}"
    assert resumed.headers["Content-Length"] == str(total - 200_000)
    assert resumed.headers["ETag"] == etag
    assert Drop.get(Drop.token == token).downloads == 1
    # The resume sent the last byte: the download is complete and the object goes at once.
    assert s3_store.object_keys() == []


@pytest.mark.parametrize(
    ("wanted", "part"),
    [("bytes=0-99", slice(0, 100)), ("bytes=-10", slice(-10, None)), ("bytes=5-5", slice(5, 6))],
)
def test_every_form_of_range_reads_just_those_bytes_from_the_store(client, wanted, part):
    token = upload(client, CONTENT, max_downloads=2).json["token"]
    etag = cut(client, path(token)).headers["etag"]
    resumed = client.simulate_get(path(token), headers={"Range": wanted, "If-Range": etag})
    assert resumed.status_code == 206
    assert resumed.content == CONTENT[part]


def test_a_range_without_the_grants_etag_is_a_whole_download_on_s3(client):
    token = upload(client, CONTENT, max_downloads=2).json["token"]
    whole = client.simulate_get(path(token), headers={"Range": "bytes=0-99"})
    assert whole.status_code == 200 and whole.content == CONTENT
    assert Drop.get(Drop.token == token).downloads == 1


def test_a_completed_download_deletes_the_object_at_once(client, s3_store):
    token = upload(client, CONTENT).json["token"]
    got = client.simulate_get(path(token))
    assert (got.status_code, got.content) == (200, CONTENT)
    assert s3_store.object_keys() == []


def test_a_cut_download_keeps_the_object(client, s3_store):
    token = upload(client, CONTENT).json["token"]
    cut(client, path(token))
    assert s3_store.object_keys() == [f"{token[:2]}/{token}"]
