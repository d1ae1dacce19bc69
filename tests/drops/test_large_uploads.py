"""A 100 MiB upload on a slow link (256 KiB/s) completes, directly and behind nginx.

Nothing bounds an upload by the clock: it takes about 400 s here, past gunicorn's
`timeout` and nginx's proxy timeouts, and is kept because it keeps making progress. Both
uploads run at once to keep the suite short.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
from contextlib import ExitStack
from urllib.parse import urlparse

import pytest
import requests

from drop.config import Config
from drop.ops.nginx_conf import nginx_values
from tests.support.common import UPLOAD, LiveServer
from tests.support.nginx import Nginx

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

MIB = 1024 * 1024
FILE_BYTES = 100 * MIB
RATE = 256 * 1024  # bytes a second
PIECE = 64 * 1024


def pattern_piece(index: int) -> bytes:
    # Distinct pieces, so a reordered or repeated piece changes the digest.
    return index.to_bytes(8, "big") * (PIECE // 8)


class ThrottledUpload(threading.Thread):
    """PUTs a FILE_BYTES multipart upload at RATE, with Content-Length, and keeps the answer."""

    def __init__(self, base_url: str):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.digest = hashlib.sha256()
        self.status: int | None = None
        self.answer: dict | None = None
        self.seconds = 0.0

    def run(self) -> None:
        boundary = "throttledboundary"
        preamble = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="large.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        epilogue = f"\r\n--{boundary}--\r\n".encode()
        target = urlparse(self.base_url)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        conn.putrequest("PUT", UPLOAD)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(preamble) + FILE_BYTES + len(epilogue)))
        conn.endheaders()
        conn.send(preamble)
        started = time.monotonic()
        for index in range(FILE_BYTES // PIECE):
            piece = pattern_piece(index)
            self.digest.update(piece)
            conn.send(piece)
            ahead = started + (index + 1) * PIECE / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        conn.send(epilogue)
        response = conn.getresponse()
        self.seconds = time.monotonic() - started
        self.status = response.status
        self.answer = response.read().decode()
        conn.close()


def downloaded_digest(url: str) -> str:
    digest = hashlib.sha256()
    with requests.get(url, stream=True, timeout=60) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_content(MIB):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.timeout(1500)  # 400 s at the throttled rate, twice as long on a loaded machine
def test_a_100_mib_upload_at_256_kib_per_second_completes_directly_and_behind_nginx(
    config, tmp_path
):
    env = {"DROP_MAX_UPLOAD_BYTES": 128 * MIB, "DROP_ACCEL_REDIRECT": "/_drop_blobs"}
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(config, workers=None, **env))
        values = nginx_values(
            Config.from_env(server.env), listen="-", server_name="-",
            upstream=f"127.0.0.1:{server.port}",
        )  # fmt: skip
        nginx = stack.enter_context(Nginx(tmp_path / "nginx", values))
        uploads = [ThrottledUpload(server.url), ThrottledUpload(nginx.url)]
        for upload in uploads:
            upload.start()
        for upload in uploads:
            upload.join(timeout=FILE_BYTES / RATE * 2)
        for upload in uploads:
            assert upload.status == 201, upload.answer
            assert upload.seconds > 350  # it really was that slow
            # The direct upload's X-Accel-Redirect answer needs nginx to send the bytes.
            url = nginx.url + urlparse(json.loads(upload.answer)["url"]).path
            assert downloaded_digest(url) == upload.digest.hexdigest()
        log = server.log.read_text()
    assert "Traceback" not in log
