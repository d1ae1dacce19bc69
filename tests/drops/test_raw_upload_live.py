"""`curl -T` against real gunicorn: the real curl binary, as a transfer.sh user types it.

curl appends the file's name to a URL ending in `/` (PUT /<name>, with a Content-Length)
and sends stdin (`-T -`) chunked.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import socket
import subprocess
import time

import pytest
import requests

from tests.support.common import LiveServer

MAX_UPLOAD = 1024 * 1024
CLIENT_TIMEOUT = 2  # seconds an upload may stall before it is answered 408
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/d/([0-9a-f]{32}))\n")


@pytest.fixture
def server(config):
    with LiveServer(
        config,
        DROP_MAX_UPLOAD_BYTES=MAX_UPLOAD,
        DROP_UPLOADS_PER_HOUR=8,
        DROP_CLIENT_TIMEOUT=CLIENT_TIMEOUT,
    ) as live:
        yield live
    log = live.log.read_text()
    assert "Traceback" not in log
    assert " 500 " not in log


@pytest.fixture
def report(tmp_path):
    """A 300 KiB file of random bytes, large enough that curl asks `Expect: 100-continue`."""
    path = tmp_path / "report.pdf"
    path.write_bytes(os.urandom(300 * 1024))
    return path


def curl(*args: str, stdin=None) -> subprocess.CompletedProcess:
    """The curl binary; -D - puts the response headers before the body on stdout."""
    return subprocess.run(
        ["curl", "-sS", "-D", "-", *args], stdin=stdin, capture_output=True, timeout=60
    )


def sent(*headers: str) -> list[str]:
    """curl's options for request headers."""
    return [option for header in headers for option in ("-H", header)]


def answer(done: subprocess.CompletedProcess) -> tuple[int, dict[str, str], str]:
    """Status, headers (lower-case names) and body of curl's last response."""
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    head, _, body = text.rpartition("\r\n\r\n")
    head = head.rpartition("\r\n\r\n")[2]  # after a "100 Continue"
    status_line, *lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_curl_T_prints_a_link_whose_page_and_api_url_give_the_identical_bytes(server, report):
    status, headers, body = answer(curl("-T", str(report), server.url + "/"))
    assert status == 201
    assert headers["content-type"] == "text/plain; charset=utf-8"
    share_url, token = LINK.fullmatch(body).groups()
    assert headers["drop-share-url"] == share_url
    page = requests.get(share_url, timeout=10)
    assert page.status_code == 200
    assert "report.pdf" in page.text
    download = requests.get(headers["drop-url"], timeout=10)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(report.read_bytes()).digest()
    assert download.headers["Content-Type"] == "application/pdf"
    assert requests.get(headers["drop-url"], timeout=10).status_code == 410


def test_drop_max_downloads_3_allows_three_downloads(server, report):
    _, headers, _ = answer(curl("-T", str(report), "-H", "Drop-Max-Downloads: 3", server.url + "/"))
    statuses = [requests.get(headers["drop-url"], timeout=10).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 410]


def test_password_and_expiry_headers_are_honoured(server, report):
    _, headers, body = answer(
        curl(
            "-T",
            str(report),
            *sent("Drop-Password: open sesame", "Drop-Expires-In: 60", "Accept: application/json"),
            server.url + "/",
        )
    )
    expires_at = datetime.datetime.fromisoformat(json.loads(body)["expires_at"])
    in_seconds = (expires_at - datetime.datetime.now(datetime.UTC)).total_seconds()
    assert 50 < in_seconds <= 61
    assert requests.get(headers["drop-url"], timeout=10).status_code == 401
    opened = requests.get(
        headers["drop-url"], headers={"X-Drop-Password": "open sesame"}, timeout=10
    )
    assert opened.content == report.read_bytes()


def test_accept_json_answers_the_apis_json(server, report):
    status, headers, body = answer(
        curl("-T", str(report), "-H", "Accept: application/json", server.url + "/")
    )
    assert status == 201
    assert headers["content-type"] == "application/json"
    made = json.loads(body)
    assert set(made) == {
        "status", "url", "share_url", "token", "expires_at", "max_downloads", "delete_token"
    }  # fmt: skip
    assert made["url"] == headers["drop-url"]
    assert made["share_url"] == headers["drop-share-url"]
    assert made["delete_token"] == headers["drop-delete-token"]


def test_the_delete_token_header_deletes_the_drop(server, report):
    _, headers, _ = answer(curl("-T", str(report), server.url + "/"))
    status, _, _ = answer(
        curl(
            "-X",
            "DELETE",
            *sent(f"X-Delete-Token: {headers['drop-delete-token']}"),
            headers["drop-url"],
        )
    )
    assert status == 204
    assert requests.get(headers["drop-url"], timeout=10).status_code == 410


def test_stdin_is_sent_chunked_and_stored_whole(server, report):
    with open(report, "rb") as stdin:
        status, headers, _ = answer(curl("-T", "-", server.url + "/notes.txt", stdin=stdin))
    assert status == 201
    download = requests.get(headers["drop-url"], timeout=10)
    assert download.content == report.read_bytes()
    assert download.headers["Content-Type"].startswith("text/plain")


def test_a_file_over_the_limit_is_413_in_one_line(server, tmp_path, config):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(MAX_UPLOAD + 1))
    status, _, body = answer(curl("-T", str(big), server.url + "/"))
    assert status == 413
    assert body == f"413 Payload Too Large: files may be at most {MAX_UPLOAD} bytes\n"
    assert list((config.data_dir / "tmp").iterdir()) == []


def test_a_chunked_stdin_over_the_limit_is_413_and_leaves_no_temp_file(server, tmp_path, config):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MAX_UPLOAD))
    with open(big, "rb") as stdin:
        status, _, body = answer(curl("-T", "-", server.url + "/big.bin", stdin=stdin))
    assert status == 413
    assert body == f"413 Payload Too Large: files may be at most {MAX_UPLOAD} bytes\n"
    assert list((config.data_dir / "tmp").iterdir()) == []
    assert list((config.data_dir / "blobs").rglob("*")) == []


def test_stdin_without_a_name_is_400_saying_how(server, report):
    with open(report, "rb") as stdin:
        status, _, body = answer(curl("-T", "-", server.url + "/", stdin=stdin))
    assert status == 400
    assert body.startswith("400 Bad Request: name the file in the URL: PUT /<name>")


def test_bad_options_are_400_in_one_line(server, report):
    status, _, body = answer(
        curl("-T", str(report), "-H", "Drop-Max-Downloads: 1000", server.url + "/")
    )
    assert status == 400
    assert body == "400 Bad Request: Drop-Max-Downloads must be from 1 to 100 downloads, got 1000\n"


def test_uploads_past_the_hourly_quota_are_429(server, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"x")
    statuses = [answer(curl("-T", str(small), server.url + "/"))[0] for _ in range(9)]
    assert statuses == [201] * 8 + [429]
    status, headers, body = answer(curl("-T", str(small), server.url + "/"))
    assert status == 429
    assert int(headers["retry-after"]) > 3500
    assert body.startswith("429 Too Many Requests: this address made 8 uploads this hour")


def test_an_upload_that_stalls_is_408_and_leaves_no_temp_file(server, config):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"PUT /stalled.bin HTTP/1.1\r\nHost: drop.test\r\nContent-Length: 100000\r\n\r\n"
            + b"x" * 1000
        )
        started = time.monotonic()
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert b"408 Request Timeout: the request body arrived too slowly" in reply
    assert time.monotonic() - started < CLIENT_TIMEOUT + 10
    assert list((config.data_dir / "tmp").iterdir()) == []


def test_a_body_cut_off_before_its_content_length_is_400_and_stores_nothing(server, config):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"PUT /cut.bin HTTP/1.1\r\nHost: drop.test\r\nContent-Length: 100000\r\n\r\n"
            + b"x" * 1000
        )
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:200]
    assert list((config.data_dir / "tmp").iterdir()) == []
    assert list((config.data_dir / "blobs").rglob("*")) == []
