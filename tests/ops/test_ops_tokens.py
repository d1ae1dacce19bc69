"""The dashboard's API tokens page: every token listed without its secret, and revoking one
there (CSRF-checked, audited) refuses its next upload at once."""

from __future__ import annotations

import dataclasses

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import db
from drop.protection import api_tokens, audit
from drop.protection.api_tokens import ApiToken
from drop.protection.audit import AuditEvent
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, session_of
from tests.support.common import multipart
from tests.support.html_checks import unlabelled_controls

OPERATOR = {"X-Real-IP": "198.51.100.20"}


@pytest.fixture
def ops(config, clock, immediate_huey):
    ops_config = dataclasses.replace(config, admin_token=ADMIN_TOKEN, admin_session_idle=600)
    yield falcon.testing.TestClient(create_app(ops_config, clock=clock))
    if not db.is_closed():
        db.close()


def upload_with(client, secret: str):
    body, headers = multipart(b"x")
    headers["Authorization"] = f"Bearer {secret}"
    return client.simulate_put("/api/v1.0/file", body=body, headers=headers)


def test_the_tokens_page_lists_every_token_without_its_secret(ops, clock):
    ci = api_tokens.issue(
        "ci", now=clock(), max_upload_bytes=2 * 1024**3, max_expires_in=86400 * 30
    )
    old = api_tokens.issue("old-sharex", now=clock(), uploads_per_hour=10)
    api_tokens.revoke(old.token, clock())
    cookies, _ = session_of(ops)
    page = ops.simulate_get("/ops/tokens", cookies=cookies)
    assert page.status_code == 200
    assert "ci" in page.text and "2.0 GiB" in page.text and "30 days" in page.text
    assert "old-sharex" in page.text and "revoked" in page.text
    assert ci.token.prefix in page.text
    assert ci.secret not in page.text and old.secret not in page.text
    assert page.text.count('hx-post="/ops/tokens/') == 1  # only the live one can be revoked
    assert unlabelled_controls(page.text) == []
    assert 'href="/ops/tokens"' in ops.simulate_get("/ops", cookies=cookies).text


def test_the_tokens_page_needs_a_session(ops):
    assert ops.simulate_get("/ops/tokens").status_code == 303


def test_revoking_from_the_dashboard_refuses_the_next_upload_and_is_audited(ops, clock):
    issued = api_tokens.issue("ci", now=clock())
    assert upload_with(ops, issued.secret).status_code == 201
    cookies, csrf = session_of(ops)
    path = f"/ops/tokens/{issued.token.id}/revoke"
    forged = ops.simulate_post(path, cookies=cookies, headers={"X-CSRF-Token": "0" * 32})
    assert forged.status_code == 403
    assert upload_with(ops, issued.secret).status_code == 201  # not revoked by the forgery

    revoked = ops.simulate_post(path, cookies=cookies, headers={"X-CSRF-Token": csrf, **OPERATOR})
    assert revoked.status_code == 200
    assert f'id="token-{issued.token.id}"' in revoked.text and "revoked" in revoked.text
    assert upload_with(ops, issued.secret).status_code == 401
    assert ApiToken.get_by_id(issued.token.id).revoked
    [event] = AuditEvent.select().where(AuditEvent.action == audit.TOKEN_REVOKE)
    assert event.address == "198.51.100.20"
    assert event.actor != audit.CLI_ACTOR and len(event.actor) == 8
    assert event.details["name"] == "ci" and issued.secret not in (event.detail or "")


def test_revoking_an_unknown_token_is_404(ops):
    cookies, csrf = session_of(ops)
    answer = ops.simulate_post(
        "/ops/tokens/999/revoke", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 404
