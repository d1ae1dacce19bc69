"""The production deployment, end to end: real nginx from ops/nginx.conf, gunicorn from
ops/gunicorn.conf.py and the Huey consumer, on PostgreSQL and Redis, all on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
from contextlib import ExitStack, contextmanager

import pytest
import requests
from huey import RedisHuey

from drop.config import Config
from drop.ops.nginx_conf import nginx_values
from tests.conftest import REDIS_URL
from tests.support.common import UPLOAD, LiveServer, free_port, multipart, wait_until
from tests.support.nginx import HoldingRelay, Nginx, wait_for_file_gone

MAX_UPLOAD = 256 * 1024
ACCEL = "/_drop_blobs"

pytestmark = pytest.mark.parametrize("backend", ["postgres"])


@contextmanager
def deployment(config, workdir, *, release=None, **env):
    """nginx → (optionally a holding relay →) gunicorn, with the Huey consumer beside it."""
    env = dict(
        DROP_ACCEL_REDIRECT=ACCEL, DROP_MAX_UPLOAD_BYTES=MAX_UPLOAD, DROP_LOG_FORMAT="json", **env
    )
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(config, workers=2, with_worker=True, **env))
        upstream = server.port
        relay = None
        if release is not None:
            relay = stack.enter_context(HoldingRelay(server.port, release))
            upstream = relay.port
        values = nginx_values(
            Config.from_env(server.env),
            listen="-",
            server_name="-",
            upstream=f"127.0.0.1:{upstream}",
        )
        nginx = stack.enter_context(Nginx(workdir / "nginx", values))
        yield nginx, server, relay


def put(nginx, content: bytes, **fields) -> requests.Response:
    body, headers = multipart(
        content, filename="report.bin", content_type="application/pdf", **fields
    )
    return requests.put(nginx.url + UPLOAD, data=body, headers=headers, timeout=30)


def access_lines(server) -> list[dict]:
    entries = []
    for line in server.log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "access":
            entries.append(entry)
    return entries


def blob_path(config, token):
    return config.data_dir / "blobs" / token[:2] / token


def test_nginx_serves_the_download_then_410_and_the_blob_goes(config, tmp_path):
    content = os.urandom(200 * 1024)
    # A second's resume window: the used-up blob then goes after it (and the grace delay).
    with deployment(config, tmp_path, DROP_DELETE_GRACE_SECONDS=1, DROP_RESUME_WINDOW=1) as (
        nginx,
        server,
        _,
    ):
        made = put(nginx, content)
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        assert made.json()["url"].startswith(nginx.url)

        got = requests.get(made.json()["url"], timeout=30)
        assert got.status_code == 200
        assert got.content == content
        assert got.headers["Content-Type"] == "application/pdf"
        assert got.headers["Content-Disposition"].startswith('attachment; filename="report.bin"')
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert got.headers["Content-Security-Policy"] == "sandbox"
        assert got.headers["Cache-Control"] == "no-store"
        assert got.headers["Referrer-Policy"] == "no-referrer"
        assert "X-Accel-Redirect" not in got.headers

        # gunicorn answered without a body; nginx followed X-Accel-Redirect to the blob
        # location and sent the bytes. The request id nginx made is the one in drop's log.
        # drop's log shows a token's first 8 characters only.
        logged_path = f"/api/v1.0/file/{token[:8]}..."
        wait_until(lambda: any(e["path"] == logged_path for e in access_lines(server)))
        (answered,) = [e for e in access_lines(server) if e["path"] == logged_path]
        assert (answered["status"], answered["bytes"]) == (200, 0)
        assert answered["request_id"] == got.headers["X-Request-Id"]

        # nginx's line for it names the blob location it ended at, token cut short too.
        # nginx writes the line once the response is done, after the upload's line: wait
        # for this request's own, not for any.
        def nginx_lines_for_it() -> list:
            return [e for e in nginx.access_entries() if e["request_id"] == answered["request_id"]]

        assert wait_until(nginx_lines_for_it)
        (sent,) = nginx_lines_for_it()
        assert sent["path"] == f"{ACCEL}/{token[:2]}/{token[:8]}..."
        assert (sent["status"], sent["bytes"]) == ("200", str(len(content)))

        second = requests.get(made.json()["url"], timeout=30)
        assert second.status_code == 410
        assert second.json()["error"] == "Gone"
        assert wait_for_file_gone(blob_path(config, token))


def test_uploads_stream_through_nginx_without_a_temp_file(config, tmp_path):
    with deployment(config, tmp_path) as (nginx, _, _):
        assert put(nginx, os.urandom(MAX_UPLOAD)).status_code == 201
    # With request buffering on, nginx spools a body this size and says so.
    assert "buffered to a temporary file" not in nginx.error_log.read_text()


def test_a_chunked_upload_streams_through_nginx_to_drop(config, tmp_path):
    content = os.urandom(150 * 1024)
    body, headers = multipart(content)

    def chunks():  # no Content-Length: requests sends Transfer-Encoding: chunked
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    with deployment(config, tmp_path) as (nginx, _, _):
        made = requests.put(nginx.url + UPLOAD, data=chunks(), headers=headers, timeout=30)
        assert made.status_code == 201, made.text
        assert requests.get(made.json()["url"], timeout=30).content == content


def test_nginx_replaces_a_client_forwarded_proto(config, tmp_path):
    body, headers = multipart(b"x")
    headers["X-Forwarded-Proto"] = "https"
    with deployment(config, tmp_path) as (nginx, _, _):
        made = requests.put(nginx.url + UPLOAD, data=body, headers=headers, timeout=30)
    assert made.json()["url"].startswith(nginx.url)


def test_nginx_refuses_an_oversized_body_with_the_api_json(config, tmp_path):
    with deployment(config, tmp_path) as (nginx, server, _):
        refused = put(nginx, os.urandom(MAX_UPLOAD + 128 * 1024))
        assert refused.status_code == 413
        assert refused.headers["Content-Type"] == "application/json"
        # nginx's own 413, before drop saw a byte, with the detail drop's would have.
        assert refused.json() == {
            "error": "Payload Too Large",
            "detail": f"files may be at most {MAX_UPLOAD} bytes",
        }
        assert not [e for e in access_lines(server) if e["method"] == "PUT"]


def test_nginx_refuses_an_oversized_page_upload_with_a_readable_page(config, tmp_path):
    with deployment(config, tmp_path) as (nginx, server, _):
        refused = requests.post(
            nginx.url + "/",
            files={"file": ("big.bin", os.urandom(MAX_UPLOAD + 128 * 1024))},
            timeout=60,
        )
        assert refused.status_code == 413
        assert refused.headers["Content-Type"].startswith("text/html")
        assert "That file is too large" in refused.text
        assert '<a href="/">' in refused.text
        # nginx's page: drop never saw the request.
        assert not [e for e in access_lines(server) if e["method"] == "POST"]


def test_a_file_just_over_the_limit_is_refused_by_drop(config, tmp_path):
    with deployment(config, tmp_path) as (nginx, _, _):
        refused = put(nginx, os.urandom(MAX_UPLOAD + 1))
        assert refused.status_code == 413
        assert refused.json()["error"] == "Payload Too Large"
        assert "detail" in refused.json()
        assert put(nginx, os.urandom(MAX_UPLOAD)).status_code == 201


def test_static_assets_come_from_nginx(config, tmp_path):
    with deployment(config, tmp_path) as (nginx, server, _):
        css = requests.get(nginx.url + "/static/drop.css", timeout=10)
        htmx = requests.get(nginx.url + "/static/vendor/htmx.min.js", timeout=10)
    assert css.status_code == 200 and "prefers-color-scheme" in css.text
    assert css.headers["Content-Type"] == "text/css"
    assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]
    assert not [e for e in access_lines(server) if e["path"].startswith("/static/")]


def test_every_script_and_stylesheet_the_home_page_names_loads_through_nginx(config, tmp_path):
    """The shipped site once had no location for /static/vendor/tus/: the page's resumable
    upload answered 404 behind nginx. Every asset the page names must come from nginx."""
    with deployment(config, tmp_path) as (nginx, server, _):
        page = requests.get(nginx.url + "/", timeout=10)
        assert page.status_code == 200
        assets = re.findall(r'<(?:script src|link rel="[^"]*" href)="(/static/[^"]+)"', page.text)
        assert "/static/vendor/tus/tus.min.js" in assets and "/static/resumable.js" in assets
        answers = {path: requests.get(nginx.url + path, timeout=10) for path in assets}
    assert {path: a.status_code for path, a in answers.items()} == dict.fromkeys(assets, 200)
    assert "tus" in answers["/static/vendor/tus/tus.min.js"].text[:2000]
    assert not [e for e in access_lines(server) if e["path"].startswith("/static/")]


def test_blobs_are_not_reachable_from_outside(config, tmp_path):
    with deployment(config, tmp_path) as (nginx, _, _):
        token = put(nginx, b"private").json()["token"]
        direct = requests.get(f"{nginx.url}{ACCEL}/{token[:2]}/{token}", timeout=10)
    # `internal` refuses it (the location's "gone" page answers for the refusal).
    assert direct.status_code in (404, 410)
    assert b"private" not in direct.content


# The race the grace delay exists for. drop claims the last download and schedules the
# blob's deletion; nginx opens the blob only after drop's answer reaches it. The relay
# holds that answer until the test has seen what the (real, running) Huey consumer did
# with the deletion, so each outcome below is reached every time, never by luck.


def test_without_a_grace_delay_the_deletion_beats_nginx(config, tmp_path):
    content = os.urandom(64 * 1024)
    token = None

    def release():
        # The consumer deletes at once; nginx gets the answer only afterwards.
        wait_for_file_gone(blob_path(config, token))

    # No resume window either: the deletion is queued for at once.
    with deployment(
        config, tmp_path, release=release, DROP_DELETE_GRACE_SECONDS=0, DROP_RESUME_WINDOW=0
    ) as (
        nginx,
        _,
        relay,
    ):
        made = put(nginx, content).json()
        token = made["token"]
        got = requests.get(made["url"], timeout=60)
    assert relay.held == 1
    assert got.status_code == 410  # the download was used up and its bytes lost
    assert got.content != content


def test_with_the_default_grace_nginx_gets_the_bytes(config, tmp_path):
    content = os.urandom(64 * 1024)
    token = None
    huey = RedisHuey("drop", url=REDIS_URL)

    def deletion_set_aside() -> bool:
        return any(token.encode() in item for item in huey.storage.scheduled_items())

    def release():
        # The consumer has taken the deletion task and put it aside until the grace
        # delay is over; only now may nginx go and open the blob.
        wait_until(deletion_set_aside, timeout=30)

    with deployment(config, tmp_path, release=release) as (nginx, server, relay):
        assert Config.from_env(server.env).delete_grace_seconds == 60
        made = put(nginx, content).json()
        token = made["token"]
        got = requests.get(made["url"], timeout=60)
        assert deletion_set_aside()
    assert relay.held == 1
    assert got.status_code == 200
    assert got.content == content


def test_nginx_answers_json_when_drop_is_down(config, tmp_path):
    accel = Config.from_env({"DROP_ACCEL_REDIRECT": ACCEL, "DROP_DATA_DIR": str(config.data_dir)})
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    values = nginx_values(accel, listen="-", server_name="-", upstream=nowhere)
    with Nginx(tmp_path / "nginx", values) as nginx:
        response = requests.get(nginx.url + "/api/v1.0/file/" + "0" * 32, timeout=10)
    assert response.status_code == 503
    assert response.json() == {
        "error": "Service Unavailable",
        "detail": "drop is unavailable for a moment; try again shortly",
    }


def test_curl_T_through_nginx_prints_a_link_and_a_file_far_over_the_limit_gets_one_line(
    config, tmp_path
):
    report = tmp_path / "report.pdf"
    report.write_bytes(os.urandom(MAX_UPLOAD))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(MAX_UPLOAD + 128 * 1024))
    with deployment(config, tmp_path) as (nginx, server, _):
        made = subprocess.run(
            ["curl", "-sS", "-T", str(report), nginx.url + "/"], capture_output=True, timeout=60
        )
        link = made.stdout.decode()
        assert re.fullmatch(re.escape(nginx.url) + r"/d/[0-9a-f]{32}\n", link), made
        got = requests.get(link.strip().replace("/d/", "/api/v1.0/file/"), timeout=30)
        assert got.content == report.read_bytes()

        refused = subprocess.run(
            ["curl", "-sS", "-D", "-", "-T", str(big), nginx.url + "/"],
            capture_output=True,
            timeout=60,
        )
        head, _, body = refused.stdout.decode().rpartition("\r\n\r\n")
        head = head.rpartition("\r\n\r\n")[2]  # after a "100 Continue"
        assert head.startswith("HTTP/1.1 413 "), head
        assert "Content-Type: text/plain; charset=utf-8" in head
        assert body == f"413 Payload Too Large: files may be at most {MAX_UPLOAD} bytes\n"
        # nginx's answer: drop never saw the request.
        assert [e["path"] for e in access_lines(server) if e["method"] == "PUT"] == ["/report.pdf"]
