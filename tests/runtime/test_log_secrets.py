"""No log line, gunicorn's own included, holds a password, a delete token, a query string
or a whole download token, whatever the traffic (well-formed or not)."""

from __future__ import annotations

import datetime
import json
import logging
import socket
import sys

import pytest
import requests
from gunicorn.config import Config as GunicornConfig

from drop.runtime.logs import JsonAccessLogger, RedactingLogger, redact
from tests.support.common import UPLOAD, LiveServer, multipart, wait_until
from tests.support.log_checks import leaking_lines
from tests.support.page import FORM, delete_key, share_token

API_PASSWORD = "api-pass-Zq81"
PAGE_PASSWORD = "page-pass-Kx27"
WRONG_PASSWORD = "wrong-guess-Pm55"
RAW_PASSWORD = "raw-line-Hy42"
CURL_PASSWORD = "curl-pass-Wd63"
API_TOKEN = "drop_" + "Tk7" * 13 + "q"


def send_raw(server, request_line: bytes) -> bytes:
    """One request straight onto the socket, as no well-behaved client would send it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_line)
        return sock.recv(100)


def suite_style_traffic(server) -> tuple[str, ...]:
    """Uploads with passwords, downloads with ?password=, the page's forms, deletes, and
    malformed request lines carrying query strings; returns every secret it used."""
    session = requests.Session()
    body, headers = multipart(b"api bytes", password=API_PASSWORD, max_downloads=5)
    made = session.put(server.url + UPLOAD, data=body, headers=headers, timeout=10).json()
    url, token, delete_token = made["url"], made["token"], made["delete_token"]
    assert session.get(url, params={"password": API_PASSWORD}, timeout=10).status_code == 200
    assert session.get(url, params={"password": WRONG_PASSWORD}, timeout=10).status_code == 401
    assert session.head(url, params={"password": API_PASSWORD}, timeout=10).status_code == 200
    got = session.get(url + "/name.txt", headers={"X-Drop-Password": API_PASSWORD}, timeout=10)
    assert got.status_code == 200

    body, headers = multipart(b"page bytes", password=PAGE_PASSWORD, max_downloads=3)
    page = session.post(server.url + "/", data=body, headers=headers, timeout=10)
    page_token, page_key = share_token(page), delete_key(page)
    share = f"{server.url}/d/{page_token}"
    assert session.get(share, timeout=10).status_code == 200
    wrong = session.post(share, data=f"password={WRONG_PASSWORD}", headers=FORM, timeout=10)
    assert wrong.status_code == 401
    right = session.post(share, data=f"password={PAGE_PASSWORD}", headers=FORM, timeout=10)
    assert right.status_code == 200
    asked = session.get(f"{share}/delete", params={"key": page_key}, timeout=10)
    assert asked.status_code == 200
    deleted = session.post(f"{share}/delete", data=f"key={page_key}", headers=FORM, timeout=10)
    assert deleted.status_code == 200

    for line in (
        f"GET /api/v1.0/file/{token}?password={RAW_PASSWORD}\r\n\r\n",
        f"GET /api/v1.0/file/{token}?password={RAW_PASSWORD}\x7f HTTP/1.1\r\n\r\n",
        f"GET /d/{page_token}/delete?key={page_key}\x01 HTTP/1.1\r\n\r\n",
        f"GET /api/v1.0/file/{token}?password={RAW_PASSWORD} HTTP/1.1\r\nBad Header\r\n\r\n",
    ):
        assert send_raw(server, line.encode()).startswith(b"HTTP/1.1 400")

    gone = session.delete(url, headers={"X-Delete-Token": delete_token}, timeout=10)
    assert gone.status_code == 204

    curl = session.put(  # `curl -T`: options and the delete token travel in headers
        server.url + "/raw.txt", data=b"raw", headers={"Drop-Password": CURL_PASSWORD}, timeout=10
    )
    assert curl.status_code == 201
    curl_delete_token = curl.headers["Drop-Delete-Token"]
    return (
        API_PASSWORD,
        PAGE_PASSWORD,
        WRONG_PASSWORD,
        RAW_PASSWORD,
        CURL_PASSWORD,
        delete_token,
        page_key,
        curl_delete_token,
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_log_line_holds_a_password_delete_token_query_or_whole_token(config, log_format):
    with LiveServer(config, workers=2, DROP_LOG_FORMAT=log_format) as server:
        secrets = suite_style_traffic(server)
        wait_until(
            lambda: "DELETE /api" in server.log.read_text() or '"DELETE"' in server.log.read_text()
        )
    text = server.log.read_text()
    assert "Invalid HTTP request line" in text  # the malformed lines did reach the log
    assert leaking_lines(text, secrets) == []
    assert "?" not in "".join(
        line for line in text.splitlines() if "/api/" in line or "/d/" in line
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_access_lines_show_the_first_8_characters_of_a_token(config):
    with LiveServer(config, workers=1, DROP_LOG_FORMAT="json") as server:
        body, headers = multipart(b"x")
        token = requests.put(server.url + UPLOAD, data=body, headers=headers, timeout=10).json()[
            "token"
        ]
        requests.get(f"{server.url}/api/v1.0/file/{token}", timeout=10)
        wait_until(lambda: f"{token[:8]}..." in server.log.read_text())
    access = [json.loads(line) for line in server.log.read_text().splitlines()]
    paths = [entry["path"] for entry in access if entry["logger"] == "access"]
    assert f"/api/v1.0/file/{token[:8]}..." in paths
    assert token not in server.log.read_text()


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("GET /x?password=hunter2 HTTP/1.1", "GET /x HTTP/1.1"),
        ("'GET /x?password=a\\x00b'", "'GET /x'"),
        ("/api/v1.0/file/" + "ab" * 16, "/api/v1.0/file/abababab..."),
        ("/d/" + "cd" * 16 + "/delete", "/d/cdcdcdcd.../delete"),
        ("request " + "ef" * 16 + " done", "request " + "ef" * 16 + " done"),  # a request id
        ("is the worker running?", "is the worker running?"),
        (
            "No more data after: b'GET /x HTTP/1.1\\r\\nX-Drop-Password: hunter2\\r\\n'",
            "No more data after: b'GET /x HTTP/1.1\\r\\nX-Drop-Password: -\\r\\n'",
        ),
        ("Cookie: drop_ops=abc.def", "Cookie: -"),
        (
            "b'PUT /a.txt HTTP/1.1\\r\\nDrop-Password: hunter2\\r\\n'",
            "b'PUT /a.txt HTTP/1.1\\r\\nDrop-Password: -\\r\\n'",
        ),
        ("Drop-Delete-Token: 0a1b2c", "Drop-Delete-Token: -"),
        (
            "b'PUT /a.txt HTTP/1.1\\r\\nAuthorization: Bearer drop_" + "Ab1" * 13 + "x\\r\\n'",
            "b'PUT /a.txt HTTP/1.1\\r\\nAuthorization: -\\r\\n'",
        ),
        # A header line without its colon hides its value all the same.
        (
            "b'PUT /a.txt HTTP/1.1\\r\\nAuthorization Bearer drop_" + "Ab1" * 13 + "x\\r\\n'",
            "b'PUT /a.txt HTTP/1.1\\r\\nAuthorization -\\r\\n'",
        ),
        ("X-Delete-Token " + "0a" * 16, "X-Delete-Token -"),
        ("x-drop-password\thunter2", "x-drop-password -"),
    ],
)
def test_redact_strips_queries_and_shortens_tokens_in_paths(line, shown):
    assert redact(line) == shown


def gunicorn_logger(logger_class, access_log_format: str):
    """gunicorn's logger as a worker has it, both logs on the standard streams."""
    cfg = GunicornConfig()
    cfg.set("accesslog", "-")
    cfg.set("errorlog", "-")
    cfg.set("access_log_format", access_log_format)
    return logger_class(cfg)


class FakeResponse:
    status = "401 Unauthorized"
    sent = 10
    headers = [("Set-Cookie", "drop_ops=session-secret"), ("X-Request-Id", "r" * 16)]


@pytest.mark.parametrize("logger_class", [RedactingLogger, JsonAccessLogger])
def test_gunicorn_error_and_access_lines_are_redacted_whatever_the_format(logger_class, capsys):
    token = "0123456789abcdef" * 2
    logger = gunicorn_logger(
        logger_class,
        "%(r)s %(q)s %(U)s %({x-drop-password}i)s %({x-delete-token}i)s %({raw_uri}e)s "
        "%({query_string}e)s %({set-cookie}o)s %({cookie}i)s %({authorization}i)s",
    )
    try:
        raise ValueError(f"boom at /api/v1.0/file/{token}?password=in-traceback")
    except ValueError:
        logger.exception("Error handling request %s %s", "GET", f"/d/{token}?password=p1")
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/api/v1.0/file/{token}?password=p2",
        "PATH_INFO": f"/api/v1.0/file/{token}",
        "QUERY_STRING": "password=p2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_DROP_PASSWORD": "p3",
    }
    request_headers = [
        ("X-Drop-Password", "p3"),
        ("X-Delete-Token", "d" * 32),
        ("Cookie", "drop_ops=session-secret"),
        ("Authorization", f"Bearer {API_TOKEN}"),
    ]
    logger.access(FakeResponse(), request_headers, environ, datetime.timedelta(seconds=1))
    for handler in logger.error_log.handlers + logger.access_log.handlers:
        handler.flush()
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Error handling request GET /d/01234567..." in text
    assert "01234567..." in text
    secrets = ("p1", "p2", "p3", "in-traceback", token, "d" * 32, "session-secret", API_TOKEN)
    for secret in secrets:
        assert secret not in text, secret
    assert "ValueError" in text  # the traceback is kept, only redacted


def test_drop_loggers_redact_through_configure_logging(capsys):
    from drop.runtime.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("text")
        # The handler was built around the stderr of the moment; point it at capsys's.
        root.handlers[0].setStream(sys.stderr)
        logging.getLogger("drop.test").warning("saw /d/%s?key=%s", "ab" * 16, "cd" * 16)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "saw /d/abababab..." in err and "cd" * 16 not in err and "key=" not in err


def test_the_suite_wide_check_recognises_each_kind_of_leak():
    token = "9f" * 16
    lines = [
        'GET /api/v1.0/file/x?password=abc HTTP/1.1"',
        "GET /d/x/delete?key=abc",
        "X-Drop-Password: hunter2",
        "Drop-Password: hunter2",
        f"GET /api/v1.0/file/{token} HTTP/1.1",
        f"GET /d/{token}",
        "Authorization: Bearer abc",
        "Authorization Bearer abc",
        "X-Delete-Token abc",
        "saw drop_" + "Zy9" * 13 + "x in a message",
    ]
    for line in lines:
        assert leaking_lines(line) == [line]
    clean = f'127.0.0.1 {token} "GET /api/v1.0/file/9f9f9f9f... HTTP/1.1" 200 5 1ms'
    assert leaking_lines(clean) == []
