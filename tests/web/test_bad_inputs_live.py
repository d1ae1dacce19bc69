"""Bad bodies and headers through real gunicorn, which checks what drop sends back.

Each answer is a 4xx, nothing is left in the temp directory, no traceback reaches the log,
and the drop the request touched (or one made before it) still downloads.
"""

from __future__ import annotations

import socket

import pytest
import requests

from drop.db.models import Drop, init_database
from tests.support.common import UPLOAD, LiveServer, multipart

BOUNDARY = b"drop-test-boundary"


@pytest.fixture
def server(config):
    with LiveServer(config, workers=1) as live:
        yield live
    assert "Traceback" not in live.log.read_text()


def put(server, content: bytes = b"still here\n", **fields) -> dict:
    body, headers = multipart(content, **fields)
    response = requests.put(server.url + UPLOAD, data=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def assert_downloads(made: dict, content: bytes = b"still here\n") -> requests.Response:
    response = requests.get(made["url"], timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == content
    return response


def file_part_body(content_type: bytes, content: bytes = b"typed\n") -> bytes:
    """A multipart body whose file part carries exactly these Content-Type bytes."""
    return (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="typed.txt"\r\n'
        b"Content-Type: " + content_type + b"\r\n\r\n" + content + b"\r\n"
        b"--" + BOUNDARY + b"--\r\n"
    )


MULTIPART = {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY.decode()}


@pytest.mark.parametrize(
    "content_type",
    [
        b"text/plain;\x0bcharset=utf-8",
        b"text/plain;\x0ccharset=utf-8",
        b"text/plain;\x1ccharset=utf-8",
        b"text/plain;\x1dcharset=utf-8",
        b"text/plain;\x1echarset=utf-8",
        b"text/plain;\x1fcharset=utf-8",
        b"text/pl\xe4in",  # Latin-1, not UTF-8
        b"text/plain; name=\xc3\xa9",  # UTF-8, still not ASCII
    ],
)
def test_a_bad_byte_in_a_parts_content_type_is_stored_as_octet_stream(server, content_type):
    response = requests.put(
        server.url + UPLOAD, data=file_part_body(content_type), headers=MULTIPART, timeout=30
    )
    assert response.status_code == 201, response.text
    made = response.json()
    downloaded = assert_downloads(made, b"typed\n")
    assert downloaded.headers["Content-Type"] == "application/octet-stream"


def test_a_stored_content_type_that_is_no_valid_header_still_downloads(server, config):
    made = put(server, max_downloads=2)
    init_database(config.effective_database_url)
    Drop.update(content_type="text/plain;\x0bcharset=utf-8").where(
        Drop.token == made["token"]
    ).execute()
    head = requests.head(made["url"], timeout=30)
    assert head.status_code == 200
    assert head.headers["Content-Type"] == "application/octet-stream"
    downloaded = assert_downloads(made)
    assert downloaded.headers["Content-Type"] == "application/octet-stream"
    assert Drop.get(Drop.token == made["token"]).downloads == 1


def raw_exchange(server, request: bytes) -> bytes:
    """Send bytes as they are, close our side, and read the whole answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def chunked_put(chunks: bytes) -> bytes:
    return (
        b"PUT /api/v1.0/file HTTP/1.1\r\nHost: drop.test\r\n"
        b"Content-Type: multipart/form-data; boundary=" + BOUNDARY + b"\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks
    )


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


START = file_part_body(b"text/plain", b"x" * 1000)[:200]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param(chunk(START) + b"zz\r\nmore\r\n0\r\n\r\n", id="bad-chunk-size"),
        pytest.param(chunk(START) + b"1000\r\n" + b"x" * 100, id="cut-off-in-a-chunk"),
        pytest.param(chunk(START), id="cut-off-before-the-last-chunk"),
        pytest.param(chunk(START) + b"4\r\nxxxxyy\r\n0\r\n\r\n", id="chunk-longer-than-said"),
    ],
)
def test_a_malformed_or_cut_off_chunked_body_is_400(server, config, chunks):
    made = put(server)
    answer = raw_exchange(server, chunked_put(chunks))
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b'"error": "Bad Request"' in answer
    assert list((config.data_dir / "tmp").iterdir()) == []
    assert_downloads(made)


def test_a_body_cut_off_before_its_content_length_is_400(server, config):
    made = put(server)
    body = file_part_body(b"text/plain", b"x" * 1000)[:300]
    answer = raw_exchange(
        server,
        b"PUT /api/v1.0/file HTTP/1.1\r\nHost: drop.test\r\n"
        b"Content-Type: multipart/form-data; boundary=" + BOUNDARY + b"\r\n"
        b"Content-Length: 100000\r\n\r\n" + body,
    )
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert list((config.data_dir / "tmp").iterdir()) == []
    assert_downloads(made)
