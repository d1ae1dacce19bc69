"""Two web nodes on SeaweedFS behind one nginx with the S3 blob location of ops/nginx.conf.

drop answers a download with X-Accel-Redirect to a presigned URL's path and query; nginx
fetches it from the store and sends it with drop's headers (issue 10, acceptance 2).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from contextlib import ExitStack

import pytest
import requests

from drop.config import Config
from drop.ops.nginx_conf import nginx_values
from tests.support.common import UPLOAD, LiveServer, multipart
from tests.support.nginx import Nginx

ACCEL = "/_drop_blobs"
SECRET = "one-key-for-every-node-" + "x" * 32


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def blob_store() -> str:
    return "s3"


@pytest.fixture
def site(config, tmp_path, s3_store):
    """nginx → node A and node B (B runs the Huey consumer), all on one bucket."""
    other = dataclasses.replace(config, data_dir=tmp_path / "node-b")
    other.data_dir.mkdir()
    with ExitStack() as stack:
        # One DROP_SECRET_KEY on every node: a grant minted by one is resumed by another.
        shared = {"DROP_ACCEL_REDIRECT": ACCEL, "DROP_SECRET_KEY": SECRET}
        a = stack.enter_context(LiveServer(config, **shared))
        b = stack.enter_context(LiveServer(other, with_worker=True, **shared))
        values = nginx_values(
            Config.from_env(a.env),
            listen="-",
            server_name="-",
            # Both nodes in the one upstream block: `server A; server B`.
            upstream=f"127.0.0.1:{a.port}; server 127.0.0.1:{b.port}",
        )
        nginx = stack.enter_context(Nginx(tmp_path / "nginx", values))
        yield nginx, a, b


def put(nginx, content: bytes, **fields) -> dict:
    body, headers = multipart(
        content, filename="report.pdf", content_type="application/pdf", **fields
    )
    response = requests.put(nginx.url + UPLOAD, data=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_node_answers_with_a_presigned_url_for_nginx(site, s3_store):
    nginx, a, _ = site
    made = put(nginx, b"%PDF-1.7 signed")
    answer = requests.get(f"{a.url}/api/v1.0/file/{made['token']}", timeout=30)
    target = answer.headers["X-Accel-Redirect"]
    key = f"{made['token'][:2]}/{made['token']}"
    assert target.startswith(f"{ACCEL}/{s3_store.bucket}/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert "X-Amz-Expires=60&" in target
    assert answer.content == b""  # nginx sends the bytes, not drop


def test_nginx_sends_the_object_with_drops_headers_and_none_of_the_stores(site):
    nginx, _, _ = site
    content = os.urandom(300 * 1024)
    made = put(nginx, content, max_downloads=2)
    got = requests.get(made["url"].replace(made["url"].split("/api/")[0], nginx.url), timeout=30)
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["Cache-Control"] == "no-store"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert not [name for name in got.headers if name.lower().startswith("x-amz-")]
    # drop's ETag (this download's grant, which a resume names), never the store's own
    # (the object's MD5).
    assert got.headers["ETag"].startswith('"')
    assert got.headers["ETag"] != f'"{hashlib.md5(content).hexdigest()}"'


def test_a_range_without_the_grants_etag_is_a_whole_download(site):
    nginx, _, _ = site
    content = os.urandom(200 * 1024)
    made = put(nginx, content, max_downloads=3)
    url = f"{nginx.url}/api/v1.0/file/{made['token']}"
    whole = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=30)
    # A Range alone would multiply a download limit: it claims one and gets everything.
    assert whole.status_code == 200
    assert whole.content == content
    assert whole.headers["Content-Disposition"].startswith("attachment")


def test_a_resume_with_the_grants_etag_is_206_from_the_store_and_uses_no_download(site):
    nginx, _, _ = site
    content = os.urandom(300 * 1024)
    made = put(nginx, content)  # one download only
    url = f"{nginx.url}/api/v1.0/file/{made['token']}"
    first = requests.get(url, timeout=30)
    assert first.status_code == 200 and first.content == content
    etag = first.headers["ETag"]
    assert requests.get(url, timeout=30).status_code == 410  # used up for everyone else
    resumed = requests.get(url, headers={"Range": "bytes=100000-", "If-Range": etag}, timeout=30)
    assert resumed.status_code == 206
    assert resumed.content == content[100_000:]
    total = len(content)
    assert resumed.headers["Content-Range"] == f"bytes 100000-{total - 1}/{total}"
    assert resumed.headers["ETag"] == etag
    assert resumed.headers["Content-Type"] == "application/pdf"
    assert resumed.headers["Content-Disposition"].startswith("attachment")
    assert not [name for name in resumed.headers if name.lower().startswith("x-amz-")]
    middle = requests.get(url, headers={"Range": "bytes=10-19", "If-Range": etag}, timeout=30)
    assert (middle.status_code, middle.content) == (206, content[10:20])
