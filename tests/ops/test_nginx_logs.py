"""nginx's logs in the shipped deployment (ops/nginx.conf) keep secrets out, as drop's do:
no query string, no secret header, a download token cut to its first 8 characters, and
the request id drop's own line carries."""

from __future__ import annotations

import socket
from contextlib import ExitStack, contextmanager

import pytest
import requests

from drop.config import Config
from drop.ops.nginx_conf import nginx_values
from drop.web.errors import DEFAULT_DETAILS
from tests.support.common import UPLOAD, LiveServer, multipart, wait_until
from tests.support.log_checks import leaking_lines
from tests.support.nginx import HoldingRelay, Nginx
from tests.support.page import FORM, delete_key, share_token

ACCEL = "/_drop_blobs"
API_PASSWORD = "api-pass-Vb36"
PAGE_PASSWORD = "page-pass-Qe19"
WRONG_PASSWORD = "wrong-guess-Tn72"
RAW_PASSWORD = "raw-line-Jw58"

pytestmark = pytest.mark.parametrize("backend", ["postgres"])


@contextmanager
def deployment(config, workdir, release=None):
    """nginx from ops/nginx.conf in front of gunicorn, nginx sending the downloads; with
    `release`, through a relay that calls it before passing on an X-Accel-Redirect."""
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(config, workers=1, DROP_ACCEL_REDIRECT=ACCEL))
        upstream = server.port
        if release is not None:
            upstream = stack.enter_context(HoldingRelay(server.port, release)).port
        values = nginx_values(
            Config.from_env(server.env),
            listen="-",
            server_name="-",
            upstream=f"127.0.0.1:{upstream}",
        )
        yield stack.enter_context(Nginx(workdir / "nginx", values))


def escaped(text: str) -> str:
    return "".join(f"%{ord(char):02x}" for char in text)


def traffic_with_secrets(url: str) -> dict:
    """Uploads with passwords, downloads with ?password= and the header, the share page's
    forms, deletes by header and by key; returns the tokens, secrets and request ids seen."""
    session = requests.Session()
    body, headers = multipart(b"api bytes", password=API_PASSWORD, max_downloads=5)
    made = session.put(url + UPLOAD, data=body, headers=headers, timeout=10).json()
    link = made["url"]
    answers = [
        session.get(link, params={"password": API_PASSWORD}, timeout=10),
        session.get(link, params={"password": WRONG_PASSWORD}, timeout=10),
        session.head(link, params={"password": API_PASSWORD}, timeout=10),
        session.get(link + "/name.txt", headers={"X-Drop-Password": API_PASSWORD}, timeout=10),
        # The token %-escaped: nginx logs the decoded path, so it is cut short all the same.
        session.get(f"{url}{UPLOAD}/{escaped(made['token'])}", timeout=10),
    ]
    assert [answer.status_code for answer in answers] == [200, 401, 200, 200, 401]
    assert answers[0].content == b"api bytes"  # sent by nginx from the blob location

    body, headers = multipart(b"page bytes", password=PAGE_PASSWORD, max_downloads=3)
    page = session.post(url + "/", data=body, headers=headers, timeout=10)
    page_token, page_key = share_token(page), delete_key(page)
    share = f"{url}/d/{page_token}"
    answers += [
        session.get(share, timeout=10),
        session.post(share, data=f"password={WRONG_PASSWORD}", headers=FORM, timeout=10),
        session.post(share, data=f"password={PAGE_PASSWORD}", headers=FORM, timeout=10),
        session.get(f"{share}/delete", params={"key": page_key}, timeout=10),
        session.post(f"{share}/delete", data=f"key={page_key}", headers=FORM, timeout=10),
        session.delete(link, headers={"X-Delete-Token": made["delete_token"]}, timeout=10),
    ]
    assert [answer.status_code for answer in answers[5:]] == [200, 401, 200, 200, 200, 204]
    assert answers[7].content == b"page bytes"  # the page's Download button, via nginx

    return {
        "tokens": (made["token"], page_token, escaped(made["token"])),
        "secrets": (
            API_PASSWORD,
            PAGE_PASSWORD,
            WRONG_PASSWORD,
            made["delete_token"],
            page_key,
        ),
        "request_ids": [answer.headers["X-Request-Id"] for answer in answers],
    }


def test_nginx_logs_hold_no_password_delete_token_query_or_whole_token(config, tmp_path):
    with deployment(config, tmp_path) as nginx:
        seen = traffic_with_secrets(nginx.url)
        wait_until(lambda: "DELETE " in nginx.access_log.read_text())
    secrets = seen["tokens"] + seen["secrets"]
    access = nginx.access_log.read_text()
    assert len(access.splitlines()) >= len(seen["request_ids"])
    assert leaking_lines(access, secrets) == []
    assert "?" not in access
    assert leaking_lines(nginx.error_log.read_text(), secrets) == []
    # The site's own log took the place of the http block's combined one.
    assert nginx.default_access_log.read_text() == ""


def test_nginx_access_lines_show_token_prefixes_and_drops_request_ids(config, tmp_path):
    with deployment(config, tmp_path) as nginx:
        seen = traffic_with_secrets(nginx.url)
        wait_until(lambda: "DELETE " in nginx.access_log.read_text())
    entries = {entry["request_id"]: entry for entry in nginx.access_entries()}
    api, page = (token[:8] + "..." for token in seen["tokens"][:2])
    expected = [
        ("GET", f"{ACCEL}/{api[:2]}/{api}"),  # ?password= right: nginx sent the blob
        ("GET", f"/api/v1.0/file/{api}"),  # a wrong ?password=, answered by drop
        ("HEAD", f"/api/v1.0/file/{api}"),
        ("GET", f"{ACCEL}/{api[:2]}/{api}"),  # a named download, password in the header
        ("GET", f"/api/v1.0/file/{api}"),  # the %-escaped token
        ("GET", f"/d/{page}"),
        ("POST", f"/d/{page}"),  # a wrong password
        # The share page's Download button: nginx follows X-Accel-Redirect with a GET.
        ("GET", f"{ACCEL}/{page[:2]}/{page}"),
        ("GET", f"/d/{page}/delete"),
        ("POST", f"/d/{page}/delete"),
        ("DELETE", f"/api/v1.0/file/{api}"),
    ]
    # Each answer's X-Request-Id (nginx's $request_id, which drop logs too) names its line.
    logged = [(entries[rid]["method"], entries[rid]["path"]) for rid in seen["request_ids"]]
    assert logged == expected


def test_a_request_line_nginx_refuses_is_logged_without_its_query_or_token(config, tmp_path):
    token = "7addb017ac64ce9d0e680c90b89f7f6b"
    with deployment(config, tmp_path) as nginx:
        for line in (
            f"GET /api/v1.0/file/{token}?password={RAW_PASSWORD}\x01 HTTP/1.1\r\n\r\n",
            f"GET /d/{token}/delete?key={token} HTTP/1.1\r\nBad Header\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as sock:
                sock.sendall(line.encode())
                assert sock.recv(100).startswith(b"HTTP/1.1 400")
        wait_until(lambda: nginx.access_log.read_text().count(" 400 ") == 2)
    access = nginx.access_log.read_text()
    assert leaking_lines(access, (token, RAW_PASSWORD)) == []
    assert "?" not in access
    statuses = [entry["status"] for entry in nginx.access_entries()]
    assert statuses.count("400") == 2


def test_a_blob_gone_before_nginx_sends_it_leaves_no_error_line(config, tmp_path):
    token = None

    def delete_the_blob():  # after drop's answer, before nginx opens the blob
        (config.data_dir / "blobs" / token[:2] / token).unlink()

    with deployment(config, tmp_path, release=delete_the_blob) as nginx:
        body, headers = multipart(b"soon gone")
        made = requests.put(nginx.url + UPLOAD, data=body, headers=headers, timeout=10).json()
        token = made["token"]
        gone = requests.get(made["url"], params={"password": RAW_PASSWORD}, timeout=10)
        assert gone.status_code == 410
        assert gone.json() == {"error": "Gone", "detail": DEFAULT_DETAILS[410]}
        wait_until(lambda: " 410 " in nginx.access_log.read_text())
    assert token not in nginx.error_log.read_text()
    assert RAW_PASSWORD not in nginx.error_log.read_text()
    # nginx's own 410, from the blob location: drop had agreed to the download.
    (entry,) = [e for e in nginx.access_entries() if e["status"] == "410"]
    assert entry["path"] == f"{ACCEL}/{token[:2]}/{token[:8]}..."
