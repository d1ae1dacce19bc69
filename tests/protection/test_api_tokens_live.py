"""Trusted uploaders on real gunicorn: two web servers share one database, a token revoked
with drop-ops is refused by both at once, and no log line holds a token's secret."""

from __future__ import annotations

import json

import pytest
import requests

from drop.config import Config
from drop.ops.nginx_conf import nginx_values
from tests.support.common import UPLOAD, LiveServer, multipart
from tests.support.log_checks import leaking_lines
from tests.support.nginx import Nginx
from tests.support.ops import run_cli

# Enough requests that each of a server's two workers answers some of them.
REQUESTS_PER_SERVER = 4


def put_file(server, secret: str, content: bytes = b"trusted bytes"):
    body, headers = multipart(content)
    headers["Authorization"] = f"Bearer {secret}"
    return requests.put(server.url + UPLOAD, data=body, headers=headers, timeout=10)


def put_raw(server, secret: str):
    return requests.put(
        server.url + "/raw.txt",
        data=b"raw",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    )


def test_a_revoked_token_is_refused_at_once_by_every_web_server(config):
    with (
        LiveServer(config, workers=2, DROP_MAX_UPLOAD_BYTES=1000) as one,
        LiveServer(config, workers=2, DROP_MAX_UPLOAD_BYTES=1000) as two,
    ):
        made = run_cli(
            config, "token", "create", "--name", "ci", "--max-upload-bytes", "10KiB", "--json"
        )
        assert made.exit_code == 0, made.output
        secret = json.loads(made.output)["secret"]
        big = b"x" * 5000
        for server in (one, two):
            assert put_file(server, "", big).status_code == 401  # "Bearer " and nothing
            body, headers = multipart(big)
            anonymous = requests.put(server.url + UPLOAD, data=body, headers=headers, timeout=10)
            assert anonymous.status_code == 413
            for _ in range(REQUESTS_PER_SERVER):
                assert put_file(server, secret, big).status_code == 201
            assert put_raw(server, secret).status_code == 201

        revoked = run_cli(config, "token", "revoke", "ci")
        assert revoked.exit_code == 0, revoked.output

        for server in (one, two):
            for _ in range(REQUESTS_PER_SERVER):
                refused = put_file(server, secret, big)
                assert refused.status_code == 401
                assert refused.json()["error"] == "Unauthorized"
                assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert put_raw(server, secret).status_code == 401
    for server in (one, two):
        text = server.log.read_text(errors="replace")
        assert "PUT /api/v1.0/file" in text  # the uploads were logged…
        assert leaking_lines(text, (secret,)) == []  # …and the secret never was


@pytest.mark.parametrize("backend", ["postgres"])
def test_behind_nginx_a_token_uploads_what_its_limit_allows(config, tmp_path):
    with LiveServer(
        config, workers=1, DROP_MAX_UPLOAD_BYTES=1000, DROP_ACCEL_REDIRECT="/_drop_blobs"
    ) as server:
        # What `drop-ops nginx-conf --max-upload-bytes 100KiB` writes.
        values = nginx_values(
            Config.from_env(server.env),
            listen="-",
            server_name="-",
            upstream=f"127.0.0.1:{server.port}",
            max_upload_bytes=100 * 1024,
        )
        made = run_cli(config, "token", "create", "--name", "ci", "--max-upload-bytes", "50KiB")
        assert made.exit_code == 0, made.output
        secret = made.output.strip().splitlines()[-1]
        with Nginx(tmp_path / "nginx", values) as nginx:
            body, headers = multipart(b"x" * 5000)
            anonymous = requests.put(nginx.url + UPLOAD, data=body, headers=headers, timeout=10)
            assert anonymous.status_code == 413
            assert "at most 1000 bytes" in anonymous.json()["detail"]  # drop's own refusal
            trusted = put_file(nginx, secret, b"x" * 5000)
            assert trusted.status_code == 201, trusted.text
            got = requests.get(trusted.json()["url"], timeout=10)
            assert got.content == b"x" * 5000  # sent by nginx from the blob location
            over_token = put_file(nginx, secret, b"x" * 60 * 1024)
            assert over_token.status_code == 413
            assert f"at most {50 * 1024} bytes" in over_token.json()["detail"]
            assert put_file(nginx, secret, b"x" * 200 * 1024).status_code == 413  # nginx's
