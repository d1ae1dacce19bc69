"""Trusted uploaders: an API token lifts the anonymous limits to its own, for its holder only.

Against the real app (falcon's TestClient) on SQLite and on PostgreSQL + Redis.
"""

from __future__ import annotations

import dataclasses
import hashlib

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import Drop, db, init_database
from drop.protection import api_tokens
from drop.protection.api_tokens import ApiToken
from tests.support.common import UPLOAD, multipart, upload
from tests.support.page import page_upload

DAY = 24 * 60 * 60
ANONYMOUS_LIMIT = 1000
TOKEN_LIMIT = 100_000


@pytest.fixture
def build(config, clock, immediate_huey):
    """A TestClient for the app with some settings changed."""

    def build_client(**settings) -> falcon.testing.TestClient:
        return falcon.testing.TestClient(
            create_app(dataclasses.replace(config, **settings), clock=clock)
        )

    yield build_client
    if not db.is_closed():
        db.close()


@pytest.fixture
def issue(config, clock):
    """Issue a token straight through the domain, as drop-ops does; returns its secret."""

    def issue_token(name: str = "ci", **limits) -> str:
        init_database(config.effective_database_url)
        with db.connection_context():
            return api_tokens.issue(name, now=clock(), **limits).secret

    return issue_token


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def upload_with(client, content: bytes, headers: dict[str, str] | None = None, **fields):
    body, form_headers = multipart(content, **fields)
    return client.simulate_put(UPLOAD, body=body, headers={**form_headers, **(headers or {})})


def assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response.json["error"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_lifts_the_size_limit_for_its_holder_only(build, issue):
    client = build(max_upload_bytes=ANONYMOUS_LIMIT)
    secret = issue(max_upload_bytes=TOKEN_LIMIT)
    content = b"x" * (ANONYMOUS_LIMIT * 10)
    refused = upload_with(client, content)
    assert refused.status_code == 413
    assert f"at most {ANONYMOUS_LIMIT} bytes" in refused.json["detail"]
    stored = upload_with(client, content, bearer(secret))
    assert stored.status_code == 201, stored.text
    assert client.simulate_get(f"{UPLOAD}/{stored.json['token']}").content == content
    # The next anonymous upload is held to the instance's limit again.
    assert upload_with(client, content).status_code == 413


def test_the_tokens_own_limit_still_refuses_a_larger_file(build, issue):
    client = build(max_upload_bytes=ANONYMOUS_LIMIT)
    secret = issue(max_upload_bytes=TOKEN_LIMIT)
    # Within the multipart allowance of Content-Length: the byte counter refuses it.
    counted = upload_with(client, b"x" * (TOKEN_LIMIT + 1), bearer(secret))
    assert counted.status_code == 413
    assert f"at most {TOKEN_LIMIT} bytes" in counted.json["detail"]
    # Far over it: refused on Content-Length, before a byte of the body is read.
    declared = upload_with(client, b"x" * (TOKEN_LIMIT + 200_000), bearer(secret))
    assert declared.status_code == 413
    assert Drop.select().count() == 0


def test_a_token_lifts_the_size_limit_of_curl_t_uploads_too(build, issue):
    client = build(max_upload_bytes=ANONYMOUS_LIMIT)
    secret = issue(max_upload_bytes=TOKEN_LIMIT)
    content = b"y" * (ANONYMOUS_LIMIT + 1)
    assert client.simulate_put("/big.bin", body=content).status_code == 413
    stored = client.simulate_put("/big.bin", body=content, headers=bearer(secret))
    assert stored.status_code == 201, stored.text
    too_big = client.simulate_put(
        "/huge.bin", body=b"y" * (TOKEN_LIMIT + 1), headers=bearer(secret)
    )
    assert too_big.status_code == 413
    assert too_big.text == f"413 Payload Too Large: files may be at most {TOKEN_LIMIT} bytes\n"


def test_a_token_lifts_the_longest_expiry_to_its_own(build, issue):
    client = build(max_expires_in=DAY, default_expires_in=DAY)
    secret = issue(max_expires_in=30 * DAY)
    assert upload_with(client, b"x", expires_in=30 * DAY).status_code == 400
    stored = upload_with(client, b"x", bearer(secret), expires_in=30 * DAY)
    assert stored.status_code == 201
    assert upload_with(client, b"x", bearer(secret), expires_in=31 * DAY).status_code == 400


def test_limits_a_token_leaves_unset_are_the_instances(build, issue):
    client = build(max_upload_bytes=ANONYMOUS_LIMIT)
    secret = issue()
    assert upload_with(client, b"x" * ANONYMOUS_LIMIT, bearer(secret)).status_code == 201
    assert upload_with(client, b"x" * (ANONYMOUS_LIMIT + 1), bearer(secret)).status_code == 413


@pytest.mark.parametrize(
    "header",
    [
        "Bearer drop_" + "A" * 40,  # the right shape, no such token
        "Bearer drop_short",
        "Bearer ",
        "drop_" + "A" * 40,  # no scheme
    ],
)
def test_a_bad_token_is_401_before_the_body_is_read(build, header):
    client = build(max_upload_bytes=ANONYMOUS_LIMIT)
    response = upload_with(client, b"x", {"Authorization": header})
    assert_unauthorized(response)
    assert Drop.select().count() == 0


def test_another_authorization_scheme_is_a_proxys_and_no_token(build):
    # nginx's basic auth in front of drop: browsers send it with every request.
    client = build(max_upload_bytes=ANONYMOUS_LIMIT)
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert upload_with(client, b"x", basic).status_code == 201
    assert upload_with(client, b"x" * (ANONYMOUS_LIMIT + 1), basic).status_code == 413
    assert_unauthorized(upload_with(build(anonymous_uploads=False), b"x", basic))


def test_a_revoked_token_is_401_at_once(build, issue, config, clock):
    client = build()
    secret = issue()
    assert upload_with(client, b"x", bearer(secret)).status_code == 201
    with db.connection_context():
        api_tokens.revoke(ApiToken.get(ApiToken.name == "ci"), clock())
    assert_unauthorized(upload_with(client, b"x", bearer(secret)))
    assert client.simulate_put("/a.txt", body=b"x", headers=bearer(secret)).status_code == 401
    # Refused, not quietly taken as an anonymous upload.
    assert Drop.select().count() == 1


def test_a_curl_t_upload_with_a_bad_token_gets_a_line_of_text(build):
    response = build().simulate_put("/a.txt", body=b"x", headers=bearer("drop_nope"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.text.startswith("401 Unauthorized: ")


def test_a_token_is_exempt_from_the_addresss_hourly_quota(build, issue):
    client = build(uploads_per_hour=1)
    secret = issue()
    assert upload(client).status_code == 201
    assert upload(client).status_code == 429
    assert [upload_with(client, b"x", bearer(secret)).status_code for _ in range(3)] == [201] * 3


def test_a_token_with_its_own_hourly_quota_is_held_to_it(build, issue, clock):
    client = build(uploads_per_hour=100)
    secret = issue(uploads_per_hour=2)
    statuses = [upload_with(client, b"x", bearer(secret)).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    refused = upload_with(client, b"x", bearer(secret))
    assert "the API token 'ci' made 2 uploads this hour" in refused.json["detail"]
    assert upload(client).status_code == 201  # the address's own quota is untouched
    clock.advance(3600)
    assert upload_with(client, b"x", bearer(secret)).status_code == 201


def test_only_the_secrets_hash_is_stored(build, issue, config):
    secret = issue(max_upload_bytes=TOKEN_LIMIT)
    assert upload_with(build(), b"x", bearer(secret)).status_code == 201
    with db.connection_context():
        token = ApiToken.get(ApiToken.name == "ci")
        assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret.startswith(token.prefix) and len(token.prefix) < len(secret) // 3
        for table in db.get_tables():
            for row in db.execute_sql(f'SELECT * FROM "{table}"').fetchall():
                assert secret not in " ".join(str(value) for value in row), table


def test_the_token_remembers_when_it_was_last_used(build, issue, clock):
    client = build()
    secret = issue()
    with db.connection_context():
        assert ApiToken.get(ApiToken.name == "ci").last_used_at is None
    upload_with(client, b"x", bearer(secret))
    with db.connection_context():
        assert ApiToken.get(ApiToken.name == "ci").last_used_at == clock()


def test_a_token_only_drop_refuses_anonymous_uploads_everywhere(build, issue):
    client = build(anonymous_uploads=False)
    assert_unauthorized(upload(client))
    raw = client.simulate_put("/a.txt", body=b"x")
    assert raw.status_code == 401 and "API tokens only" in raw.text
    assert page_upload(client).status_code == 401
    assert Drop.select().count() == 0
    secret = issue()
    assert upload_with(client, b"x", bearer(secret)).status_code == 201
    assert client.simulate_put("/a.txt", body=b"x", headers=bearer(secret)).status_code == 201


def test_a_token_only_drops_page_says_uploads_need_a_token_and_shows_no_form(build):
    page = build(anonymous_uploads=False).simulate_get("/")
    assert page.status_code == 200
    assert "need an API token" in page.text
    assert "<form" not in page.text and 'type="file"' not in page.text
    open_page = build().simulate_get("/")
    assert 'id="upload"' in open_page.text and "need an API token" not in open_page.text
