"""tus against real gunicorn (and the shipped nginx), on SQLite and PostgreSQL + Redis:
tuspy killed mid-upload and resumed by a new client, a client that dies mid-chunk, two
web servers sharing one upload, and two PATCHes racing for it."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from tusclient.client import TusClient

from drop.config import Config
from drop.db.models import open_database
from drop.ops.nginx_conf import nginx_values
from tests.support.common import ROOT, LiveServer, wait_until
from tests.support.nginx import Nginx
from tests.support.tus import CHUNK, TUS, UPLOADS

MIB = 1024 * 1024
FILE_BYTES = 64 * MIB
CHUNK_BYTES = 5 * MIB
MAX_UPLOAD = 128 * MIB


@contextmanager
def drop_behind(config, workdir: Path, through: str, **env):
    """The base URL of drop served by gunicorn, straight or through the shipped nginx."""
    env = {"DROP_MAX_UPLOAD_BYTES": MAX_UPLOAD, **env}
    if through == "nginx":
        env["DROP_ACCEL_REDIRECT"] = "/_drop_blobs"  # nginx sends the downloads
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(config, workers=2, **env))
        if through == "gunicorn":
            yield server.url, server
        else:
            values = nginx_values(
                Config.from_env(server.env),
                listen="-",
                server_name="-",
                upstream=f"127.0.0.1:{server.port}",
            )
            yield stack.enter_context(Nginx(workdir / "nginx", values)).url, server
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-5000:]
    assert '" 500 ' not in log


def stored_drop(config, token: str) -> tuple[int, str]:
    """The drop's size and sha256, as its row holds them."""
    database = open_database(config.effective_database_url)
    with database:
        return database.execute_sql(
            f'SELECT "size", "sha256" FROM "drop" WHERE "token" = {database.param}', (token,)
        ).fetchone()


def kill_after_chunks(endpoint: str, path: Path, chunks: int) -> tuple[str, list[int]]:
    """Run tuspy in its own process, SIGKILL it once `chunks` chunks are acknowledged
    (it may be sending the next one), and return the upload URL and the offsets it saw."""
    client = subprocess.Popen(
        [sys.executable, "-m", "tests.support.tus_client", endpoint, str(path), str(CHUNK_BYTES)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = client.stdout.readline().split()[1]
        offsets = [int(client.stdout.readline().split()[1]) for _ in range(chunks)]
    finally:
        client.kill()
        client.wait(timeout=10)
    return url, offsets


@pytest.mark.parametrize("through", ["gunicorn", "nginx"])
def test_tuspy_killed_after_three_chunks_is_resumed_by_a_new_client(config, tmp_path, through):
    content = os.urandom(FILE_BYTES)
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    with drop_behind(config, tmp_path, through) as (base, _):
        url, offsets = kill_after_chunks(base + UPLOADS, source, 3)
        assert offsets == [CHUNK_BYTES, 2 * CHUNK_BYTES, 3 * CHUNK_BYTES]
        assert url.startswith(base + UPLOADS + "/")

        # A new client asks the server where to go on (HEAD). The killed one may have been
        # sending its fourth chunk: the server keeps what arrived, and a retry covers the
        # moment before it notices the connection is gone (its lease still held).
        resumed = TusClient(base + UPLOADS).uploader(
            str(source), url=url, chunk_size=CHUNK_BYTES, retries=10, retry_delay=1
        )
        assert 3 * CHUNK_BYTES <= resumed.offset < FILE_BYTES
        resumed.upload()

        links = resumed.request.response_headers
        download = requests.get(links["drop-url"], timeout=60)
        assert download.status_code == 200
        assert download.headers["Content-Type"] == "video/mp4"
        assert "big.bin" in download.headers["Content-Disposition"]
        sha256 = hashlib.sha256(content).hexdigest()
        assert hashlib.sha256(download.content).hexdigest() == sha256
        assert download.content == content
        token = links["drop-url"].rsplit("/", 1)[1]
        assert stored_drop(config, token) == (FILE_BYTES, sha256)

        answer = requests.get(url, timeout=10).json()
        assert answer["url"] == links["drop-url"]
        assert answer["delete_token"] == links["drop-delete-token"]
    assert list((config.data_dir / "uploads").iterdir()) == []


def raw_request_start(base: str, method: str, path: str, headers: dict, body: bytes):
    """A request whose head and first body bytes are sent, the rest left to the caller."""
    address = urlsplit(base)
    sock = socket.create_connection((address.hostname, address.port), timeout=30)
    head = [f"{method} {path} HTTP/1.1", f"Host: {address.netloc}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str]]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"connection closed after {data!r}"
        data += more
    status_line, *lines = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}


def create(base: str, length: int) -> str:
    made = requests.post(base + UPLOADS, headers={**TUS, "Upload-Length": str(length)}, timeout=10)
    assert made.status_code == 201, made.text
    return made.headers["Location"]


def head_offset(url: str) -> int:
    return int(requests.head(url, headers=TUS, timeout=10).headers["Upload-Offset"])


def test_a_client_that_dies_mid_chunk_keeps_the_bytes_that_arrived(config, tmp_path):
    content = os.urandom(MIB)
    arrived = 300 * 1024
    with drop_behind(config, tmp_path, "gunicorn") as (base, _):
        url = create(base, MIB)
        sock = raw_request_start(
            base,
            "PATCH",
            urlsplit(url).path,
            {**CHUNK, "Upload-Offset": "0", "Content-Length": str(MIB)},
            content[:arrived],
        )
        sock.close()  # the client is gone, 724 KiB short
        assert wait_until(lambda: head_offset(url) == arrived, timeout=20)
        done = requests.patch(
            url, data=content[arrived:], headers={**CHUNK, "Upload-Offset": str(arrived)}
        )
        assert done.status_code == 204, done.text
        assert requests.get(done.headers["Drop-Url"], timeout=10).content == content


def test_any_web_server_takes_the_next_chunk_and_two_at_once_get_one_409(config, tmp_path):
    """Two gunicorns (two web nodes) on one database and data dir: the upload is theirs
    alike, and a PATCH racing one in progress on the other node is refused."""
    content = os.urandom(2 * MIB)
    with ExitStack() as stack:
        one = stack.enter_context(LiveServer(config, workers=1))
        two = stack.enter_context(LiveServer(config, workers=1))
        url = create(one.url, 2 * MIB)
        path = urlsplit(url).path
        first = requests.patch(
            two.url + path, data=content[:MIB], headers={**CHUNK, "Upload-Offset": "0"}
        )
        assert first.status_code == 204, first.text
        assert head_offset(one.url + path) == MIB

        # A PATCH of the second half starts on node one and stalls after 300 KiB (drop
        # writes 256 KiB pieces: the first one shows the PATCH is under way)...
        sent = 300 * 1024
        sock = raw_request_start(
            one.url,
            "PATCH",
            path,
            {**CHUNK, "Upload-Offset": str(MIB), "Content-Length": str(MIB)},
            content[MIB : MIB + sent],
        )
        partial = config.data_dir / "uploads" / path.rsplit("/", 1)[1]
        assert wait_until(lambda: partial.stat().st_size == MIB + 256 * 1024, timeout=20)
        # ...while the same chunk arrives at node two: one writer at a time.
        racing = requests.patch(
            two.url + path, data=content[MIB:], headers={**CHUNK, "Upload-Offset": str(MIB)}
        )
        assert racing.status_code == 409
        assert racing.json()["detail"] == "another request is writing to this upload"
        assert racing.headers["Tus-Resumable"] == "1.0.0"

        sock.sendall(content[MIB + sent :])
        status, headers = read_answer(sock)
        sock.close()
        assert status == 204
        assert headers["upload-offset"] == str(2 * MIB)
        assert requests.get(headers["drop-url"], timeout=10).content == content
        again = requests.get(two.url + path, timeout=10).json()
        assert again["url"] == two.url + urlsplit(headers["drop-url"]).path


@pytest.mark.parametrize("backend", ["sqlite"])
def test_nginx_refuses_a_chunk_over_the_limit_with_tus_headers(config, tmp_path):
    with drop_behind(config, tmp_path, "nginx", DROP_MAX_UPLOAD_BYTES=MIB) as (base, _):
        for method in ("OPTIONS", "HEAD", "DELETE"):
            url = create(base, 10)
            answer = requests.request(method, url, headers=TUS, timeout=10)
            assert answer.status_code in (204, 200), (method, answer.status_code)
            assert answer.headers["Tus-Resumable"] == "1.0.0"
        url = create(base, MIB)
        sock = raw_request_start(
            base,
            "PATCH",
            urlsplit(url).path,
            {**CHUNK, "Upload-Offset": "0", "Content-Length": str(MIB + 1)},
            b"",
        )
        status, headers = read_answer(sock)
        sock.close()
        assert status == 413
        assert headers["tus-resumable"] == "1.0.0"
        too_long = requests.post(
            base + UPLOADS, headers={**TUS, "Upload-Length": str(MIB + 1)}, timeout=10
        )
        assert too_long.status_code == 413
        assert too_long.json()["detail"] == f"files may be at most {MIB} bytes"


def test_a_chunk_that_stalls_is_408_and_keeps_what_arrived(config, tmp_path):
    """The slow-client deadlines hold for a PATCH as for any upload body."""
    content = os.urandom(MIB)
    with drop_behind(config, tmp_path, "gunicorn", DROP_CLIENT_TIMEOUT=2) as (base, _):
        url = create(base, MIB)
        sock = raw_request_start(
            base,
            "PATCH",
            urlsplit(url).path,
            {**CHUNK, "Upload-Offset": "0", "Content-Length": str(MIB)},
            content[: 300 * 1024],
        )
        status, headers = read_answer(sock)  # after 2 s of silence
        sock.close()
        assert status == 408
        assert headers["tus-resumable"] == "1.0.0"
        kept = head_offset(url)
        assert 256 * 1024 <= kept <= 300 * 1024
        done = requests.patch(
            url, data=content[kept:], headers={**CHUNK, "Upload-Offset": str(kept)}, timeout=30
        )
        assert done.status_code == 204, done.text
        assert requests.get(done.headers["Drop-Url"], timeout=10).content == content
