"""The audit trail of the dashboard: every operator action is recorded, and /ops/audit shows it."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import logging
import re

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import db
from drop.ops.session import COOKIE_NAME
from drop.protection import audit
from drop.protection.audit import AuditEvent
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, drop_id, login, session_of
from tests.support.common import upload
from tests.support.html_checks import foreign_urls, unlabelled_controls
from tests.support.ops import refuse_audit_inserts

WRONG = "wrong-token-wrong-token"
OPERATOR = {"X-Real-IP": "198.51.100.20"}  # the client nginx (a trusted proxy) saw


@pytest.fixture
def ops_config(config):
    return dataclasses.replace(config, admin_token=ADMIN_TOKEN, admin_session_idle=600)


@pytest.fixture
def ops(ops_config, clock, immediate_huey):
    yield falcon.testing.TestClient(create_app(ops_config, clock=clock))
    if not db.is_closed():
        db.close()


def events(action: str | None = None) -> list[AuditEvent]:
    query = AuditEvent.select().order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(query)


def session_id_of(cookies: dict[str, str]) -> str:
    body = cookies[COOKIE_NAME].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["s"]


def actor_of(cookies: dict[str, str]) -> str:
    return hashlib.sha256(session_id_of(cookies).encode()).hexdigest()[:8]


def act(ops, path: str, cookies, csrf, **kwargs):
    return ops.simulate_post(path, cookies=cookies, headers={"X-CSRF-Token": csrf}, **kwargs)


def test_a_login_is_recorded_with_its_session_time_and_real_client(ops, clock):
    response = login(ops, headers=OPERATOR)
    assert response.status_code == 303
    cookies = {COOKIE_NAME: response.cookies[COOKIE_NAME].value}
    [event] = events()
    assert event.action == audit.LOGIN
    assert event.actor == actor_of(cookies)
    assert re.fullmatch(r"[0-9a-f]{8}", event.actor)
    assert event.address == "198.51.100.20"
    assert event.occurred_at == clock()
    assert event.target is None and event.detail is None


def test_an_untrusted_peer_is_recorded_by_its_own_address(ops):
    login(ops, WRONG, headers={"X-Real-IP": "203.0.113.99"}, remote_addr="192.0.2.9")
    assert [event.address for event in events()] == ["192.0.2.9"]


def test_a_failed_login_is_recorded_as_anonymous(ops):
    assert login(ops, WRONG, headers=OPERATOR).status_code == 403
    [event] = events()
    assert (event.action, event.actor, event.address) == (
        audit.LOGIN_FAILED,
        audit.ANONYMOUS,
        "198.51.100.20",
    )


def test_a_login_refused_by_the_limit_is_recorded_with_its_wait(ops):
    for _ in range(5):
        login(ops, WRONG)
    refused = login(ops)
    assert refused.status_code == 429
    assert [event.action for event in events()] == [audit.LOGIN_FAILED] * 5 + [audit.LOGIN_REFUSED]
    assert events(audit.LOGIN_REFUSED)[0].details == {
        "retry_after": int(refused.headers["Retry-After"])
    }


def test_a_logout_is_recorded_by_the_session_it_ends(ops):
    cookies, csrf = session_of(ops)
    assert act(ops, "/ops/logout", cookies, csrf).status_code == 303
    [logout] = events(audit.LOGOUT)
    assert logout.actor == actor_of(cookies) == events(audit.LOGIN)[0].actor
    assert logout.address == "127.0.0.1"


def test_a_revoke_is_recorded_with_the_drop_id_and_token_prefix(ops):
    token = upload(ops).json["token"]
    cookies, csrf = session_of(ops)
    assert act(ops, f"/ops/drops/{drop_id(token)}/revoke", cookies, csrf).status_code == 200
    [event] = events(audit.REVOKE)
    assert event.actor == actor_of(cookies)
    assert event.target == f"drop {drop_id(token)} {token[:8]}"
    assert event.details == {"drop_id": drop_id(token), "token_prefix": token[:8], "was_live": True}


def test_revoking_an_unknown_drop_records_nothing(ops):
    cookies, csrf = session_of(ops)
    assert act(ops, "/ops/drops/999999/revoke", cookies, csrf).status_code == 404
    assert events(audit.REVOKE) == []


def test_a_purge_started_from_the_dashboard_is_recorded_with_its_task(ops, ops_config):
    cookies, csrf = session_of(ops)
    started = act(ops, "/ops/purge", cookies, csrf)
    assert started.status_code == 202
    task_id = re.search(r'hx-get="/ops/purge/([0-9a-f-]+)"', started.text).group(1)
    [event] = events(audit.PURGE_STARTED)
    assert event.actor == actor_of(cookies)
    assert event.target == "expired drops"
    assert event.details == {"task": task_id, "older_than_seconds": ops_config.purge_retention}


def test_no_stored_field_holds_a_secret(ops):
    created = upload(ops, password="hunter2-hunter2").json
    login(ops, WRONG)
    cookies, csrf = session_of(ops)
    act(ops, f"/ops/drops/{drop_id(created['token'])}/revoke", cookies, csrf)
    act(ops, "/ops/purge", cookies, csrf)
    act(ops, "/ops/logout", cookies, csrf)
    secrets = [
        ADMIN_TOKEN,
        WRONG,
        "hunter2-hunter2",
        created["token"],
        created["delete_token"],
        session_id_of(cookies),
        hashlib.sha256(session_id_of(cookies).encode()).hexdigest(),  # the registry's key
        csrf,
        cookies[COOKIE_NAME],
    ]
    stored = events()
    assert {event.action for event in stored} == {
        audit.LOGIN_FAILED,
        audit.LOGIN,
        audit.REVOKE,
        audit.PURGE_STARTED,
        audit.LOGOUT,
    }
    for event in stored:
        for name in ("occurred_at", "actor", "address", "action", "target", "detail"):
            text = str(getattr(event, name))
            assert not [secret for secret in secrets if secret in text], (name, text)


def test_a_failing_record_leaves_every_answer_as_it_was(ops, caplog):
    token = upload(ops).json["token"]
    refuse_audit_inserts(db.obj)
    caplog.set_level(logging.WARNING, logger="drop.protection.audit")
    assert login(ops, WRONG).status_code == 403
    cookies, csrf = session_of(ops)
    assert act(ops, f"/ops/drops/{drop_id(token)}/revoke", cookies, csrf).status_code == 200
    assert ops.simulate_get(f"/api/v1.0/file/{token}").status_code == 410
    assert act(ops, "/ops/logout", cookies, csrf).status_code == 303
    assert AuditEvent.select().count() == 0
    records = [r for r in caplog.records if r.name == "drop.protection.audit"]
    assert {r.levelno for r in records} == {logging.WARNING}
    recorded = [re.match(r"audit trail: could not record (\w+): ", r.getMessage()) for r in records]
    assert [match.group(1) for match in recorded] == [
        audit.LOGIN_FAILED,
        audit.LOGIN,
        audit.REVOKE,
        audit.LOGOUT,
    ]


def test_the_audit_page_needs_a_session(ops):
    response = ops.simulate_get("/ops/audit")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/ops/login")
    htmx = ops.simulate_get("/ops/audit", headers={"HX-Request": "true"})
    assert htmx.status_code == 403
    assert htmx.headers["HX-Redirect"] == "/ops/login"


def test_the_dashboard_links_to_the_audit_page(ops):
    cookies, _ = session_of(ops)
    assert 'href="/ops/audit"' in ops.simulate_get("/ops", cookies=cookies).text


def test_the_audit_page_shows_the_newest_events_first_with_the_security_headers(ops):
    token = upload(ops).json["token"]
    login(ops, WRONG, headers=OPERATOR)
    cookies, csrf = session_of(ops)
    act(ops, f"/ops/drops/{drop_id(token)}/revoke", cookies, csrf)
    page = ops.simulate_get("/ops/audit", cookies=cookies)
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in page.headers["Vary"]
    text = page.text
    assert "<h1>Audit trail</h1>" in text
    assert "3 events · page 1 of 1" in text
    assert re.findall(r'<td class="audit-\w+">([^<]+)</td>', text) == [
        "revoked",
        "logged in",
        "failed login",
    ]
    assert f"drop {drop_id(token)} {token[:8]}" in text
    assert token not in text
    assert "198.51.100.20" in text and actor_of(cookies) in text and "anonymous" in text
    assert "kept for 90 days" in text
    assert unlabelled_controls(text) == []
    assert foreign_urls(text, "http://falconframework.org") == []


def test_the_audit_page_is_paged_and_htmx_gets_just_the_table(ops, clock):
    cookies, _ = session_of(ops)  # one event: the login
    for number in range(60):
        audit.record(
            audit.PURGE,
            actor=audit.CLI_ACTOR,
            at=clock() - datetime.timedelta(minutes=number + 1),
            target=f"event-{number:02}",
        )
    first = ops.simulate_get("/ops/audit", cookies=cookies).text
    assert "61 events · page 1 of 2" in first
    assert "event-48" in first and "event-49" not in first
    second = ops.simulate_get(
        "/ops/audit", params={"page": "2"}, cookies=cookies, headers={"HX-Request": "true"}
    )
    assert second.status_code == 200
    assert "<html" not in second.text
    assert "event-49" in second.text and "event-59" in second.text
    assert "event-48" not in second.text
    assert "page 2 of 2" in second.text
    assert 'hx-vals=\'{"page": "1"}\'' in second.text and "Older" not in second.text


@pytest.mark.parametrize("page", ["abc", "-3", "0", ""])
def test_a_nonsense_audit_page_number_is_the_first_page(ops, page):
    cookies, _ = session_of(ops)
    response = ops.simulate_get("/ops/audit", params={"page": page}, cookies=cookies)
    assert response.status_code == 200
    assert "page 1 of 1" in response.text


@pytest.mark.parametrize("page", ["100001", "9" * 40])
def test_an_audit_page_number_past_the_bound_is_400(ops, page):
    cookies, _ = session_of(ops)
    response = ops.simulate_get("/ops/audit", params={"page": page}, cookies=cookies)
    assert response.status_code == 400
    assert "page must be from 1 to 100000" in response.text
