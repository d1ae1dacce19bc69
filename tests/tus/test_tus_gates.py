"""A tus upload passes the same gates as every other upload path, on SQLite and PostgreSQL,
with partial uploads on local disk or in S3:
address and content blocks, API tokens (their limits, their quota, token-only mode),
malware scanning with a real clamd, and the upload counts in /metrics."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import falcon.testing
import pytest

from drop.app import create_app
from drop.clock import utcnow
from drop.db.models import Drop, db, init_database
from drop.protection import api_tokens, blocks, scans
from tests.support.clamd_server import MALWARE
from tests.support.tus import create, created_path, patch, path_of

BLOCKED = "203.0.113.7"
ELSEWHERE = "198.51.100.1"
CONTENT = b"the bytes nobody may share\n"
ANONYMOUS_LIMIT = 1000
TOKEN_LIMIT = 100_000


@pytest.fixture
def build(config, clock, immediate_huey):
    """A TestClient for the app with some settings changed; `scans` collects queued scans."""
    queued: list[str] = []

    def build_client(**settings) -> falcon.testing.TestClient:
        changed = dataclasses.replace(config, **settings)
        return falcon.testing.TestClient(
            create_app(changed, clock=clock, schedule_scan=queued.append)
        )

    build_client.queued = queued
    yield build_client
    if not db.is_closed():
        db.close()


def issue(config, clock, **limits) -> str:
    init_database(config.effective_database_url)
    with db.connection_context():
        return api_tokens.issue("ci", now=clock(), **limits).secret


def add_block(kind: str, value: str, reason: str) -> None:
    with db.connection_context():
        blocks.add_block(blocks.target(kind, value), reason, actor="cli", now=utcnow())


def from_address(address: str) -> dict[str, str]:
    return {"X-Real-IP": address}  # the test client's 127.0.0.1 is a trusted proxy


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def counted(client, line: str) -> float:
    found = re.search(rf"^{re.escape(line)} (\S+)$", client.simulate_get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def drops_stored() -> list[Drop]:
    with db.connection_context():
        return list(Drop.select())


def test_a_blocked_address_cannot_create_an_upload(build, partials_stored):
    client = build()
    add_block(blocks.ADDRESS, "203.0.113.0/24", "spam from this network")
    refused = create(client, len(CONTENT), headers=from_address(BLOCKED))
    assert refused.status_code == 403
    assert refused.json["error"] == "Forbidden"
    assert "spam from this network" in refused.json["detail"]
    assert "Location" not in refused.headers
    assert partials_stored.leftovers() == []
    # Creation with its bytes is refused before they are read, too.
    assert create(client, 3, body=b"abc", headers=from_address(BLOCKED)).status_code == 403
    assert create(client, 3, headers=from_address(ELSEWHERE)).status_code == 201


def test_blocked_content_is_refused_when_the_upload_completes_and_nothing_is_kept(
    build, partials_stored, blobs
):
    client = build()
    add_block(blocks.CONTENT, hashlib.sha256(CONTENT).hexdigest(), "court order 12")
    before = counted(client, 'drop_blocked_uploads_total{kind="content"}')
    path = created_path(client, len(CONTENT), filename="notes.txt")
    assert patch(client, path, 0, CONTENT[:10]).status_code == 204
    refused = patch(client, path, 10, CONTENT[10:])
    assert refused.status_code == 403
    assert "court order 12" in refused.json["detail"]
    assert drops_stored() == []
    # The partial bytes are freed and the upload is over: it cannot be resumed.
    assert partials_stored.leftovers() == []
    assert list(blobs.blob_tokens()) == []
    assert client.simulate_head(path, headers={"Tus-Resumable": "1.0.0"}).status_code == 410
    assert counted(client, 'drop_blocked_uploads_total{kind="content"}') == before + 1
    # Other bytes still make a drop, counted like any upload.
    uploads_before = counted(client, "drop_uploads_total")
    made = create(client, 5, body=b"other")
    assert made.status_code == 201, made.text
    assert made.headers["Drop-Url"]
    assert counted(client, "drop_uploads_total") == uploads_before + 1


def test_a_token_lifts_the_tus_size_limit_and_its_uploads_count_to_the_token(build, config, clock):
    client = build(max_upload_bytes=ANONYMOUS_LIMIT, uploads_per_hour=1)
    secret = issue(config, clock, max_upload_bytes=TOKEN_LIMIT, uploads_per_hour=1)
    content = b"x" * (ANONYMOUS_LIMIT * 10)
    refused = create(client, len(content))
    assert refused.status_code == 413
    assert f"at most {ANONYMOUS_LIMIT} bytes" in refused.json["detail"]
    over = create(client, TOKEN_LIMIT + 1, headers=bearer(secret))
    assert over.status_code == 413
    made = create(client, len(content), headers=bearer(secret))
    assert made.status_code == 201, made.text
    path = path_of(made.headers["Location"])
    # The chunks need no token: the upload's URL is its capability.
    assert patch(client, path, 0, content[:4000]).status_code == 204
    done = patch(client, path, 4000, content[4000:])
    assert done.status_code == 204, done.text
    token = done.headers["Drop-Url"].rsplit("/", 1)[1]
    assert client.simulate_get(f"/api/v1.0/file/{token}").content == content
    # The token's one upload this hour is used; the address's is not.
    assert create(client, 5, headers=bearer(secret)).status_code == 429
    assert create(client, 5).status_code == 201


def test_a_bad_token_is_refused_at_creation(build):
    client = build()
    refused = create(client, 5, headers=bearer("drop_" + "x" * 40))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_only_mode_refuses_anonymous_tus_uploads_with_401(
    build, config, clock, partials_stored
):
    client = build(anonymous_uploads=False)
    refused = create(client, 5, body=b"hello")
    assert refused.status_code == 401
    assert refused.json["error"] == "Unauthorized"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert partials_stored.leftovers() == []
    secret = issue(config, clock)
    made = create(client, 5, body=b"hello", headers=bearer(secret))
    assert made.status_code == 201, made.text
    assert made.headers["Drop-Url"]


def test_a_tus_drop_is_held_for_its_scan_and_the_test_signature_ends_infected(
    build, config, clock, clamd
):
    client = build(clamd_socket=clamd.socket_path)
    path = created_path(client, len(MALWARE), filename="payload.bin")
    half = len(MALWARE) // 2
    assert patch(client, path, 0, MALWARE[:half]).status_code == 204
    done = patch(client, path, half, MALWARE[half:])
    assert done.status_code == 204, done.text
    token = done.headers["Drop-Url"].rsplit("/", 1)[1]
    assert build.queued == [token]
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 423
    settings = scans.ScanSettings.from_config(
        dataclasses.replace(config, clamd_socket=clamd.socket_path)
    )
    with db.connection_context():
        assert scans.Scanner.from_settings(settings).scan(token, clock()).result == "infected"
    with db.connection_context():
        found = Drop.get(Drop.token == token)
    assert (found.status, found.scan_status) == ("infected", "infected")
    answer = client.simulate_get(f"/api/v1.0/file/{token}")
    assert answer.status_code == 451
    assert MALWARE not in answer.content


def test_a_tus_upload_too_large_to_scan_can_be_refused_at_creation(build, clamd):
    client = build(clamd_socket=clamd.socket_path, scan_max_bytes=100, scan_too_large="refuse")
    refused = create(client, 101)
    assert refused.status_code == 413
    assert "malware" in refused.json["detail"]
    assert create(client, 100).status_code == 201
