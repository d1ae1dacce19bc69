"""Trusted uploaders on real gunicorn: two web servers share one database, a token revoked
with drop-ops is refused by both at once, and no log line holds a token's secret."""

from __future__ import annotations

import json

import requests

from tests.log_checks import leaking_lines
from tests.ops_support import run_cli
from tests.support import UPLOAD, LiveServer, multipart

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
