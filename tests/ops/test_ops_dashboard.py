"""/ops: the operator dashboard's login, session, CSRF protection, figures and actions."""

from __future__ import annotations

import dataclasses
import re

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import REVOKED, Drop, db
from drop.ops.session import COOKIE_NAME
from drop.runtime.heartbeat import write_heartbeat
from tests.support.common import upload
from tests.support.ops import DAY, blob_exists, plant_drop

ADMIN_TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def ops_config(config):
    return dataclasses.replace(config, admin_token=ADMIN_TOKEN, admin_session_idle=600)


@pytest.fixture
def ops(ops_config, clock, immediate_huey):
    app = create_app(ops_config, clock=clock)
    yield falcon.testing.TestClient(app)
    if not db.is_closed():
        db.close()


def login(client, token: str = ADMIN_TOKEN, headers=None, **kwargs):
    return client.simulate_post(
        "/ops/login",
        params=None,
        body=f"token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        **kwargs,
    )


def session_of(client) -> tuple[dict[str, str], str]:
    """Log in; return the session cookie and the page's CSRF token."""
    response = login(client)
    assert response.status_code == 303, response.text
    cookies = {COOKIE_NAME: response.cookies[COOKIE_NAME].value}
    page = client.simulate_get("/ops", cookies=cookies)
    assert page.status_code == 200, page.text
    csrf = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page.text).group(1)
    return cookies, csrf


def drop_id(token: str) -> int:
    return Drop.get(Drop.token == token).id


@pytest.mark.parametrize("path", ["/ops", "/ops/login", "/ops/stats", "/ops/drops"])
def test_without_an_admin_token_ops_is_404(client, path):
    assert client.simulate_get(path).status_code == 404


def test_dashboard_without_a_session_sends_the_browser_to_login(ops):
    response = ops.simulate_get("/ops")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/ops/login")
    assert "Admin token" in ops.simulate_get("/ops/login").text


def test_wrong_token_is_refused(ops):
    response = login(ops, "wrong-token-wrong-token")
    assert response.status_code == 403
    assert "That token is not right." in response.text
    assert COOKIE_NAME not in response.cookies


def test_right_token_starts_a_strict_http_only_session(ops):
    response = login(ops)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/ops")
    cookie = response.cookies[COOKIE_NAME]
    assert cookie.http_only
    assert cookie.same_site == "Strict"
    assert cookie.path == "/ops"
    assert not cookie.secure  # plain http here; see the https test
    assert ADMIN_TOKEN not in cookie.value


def test_session_cookie_is_secure_behind_https(ops):
    assert login(ops, protocol="https").cookies[COOKIE_NAME].secure


def test_dashboard_shows_stats_and_drops(ops):
    token = upload(ops, b"x" * 1500, filename="quarterly.pdf").json["token"]
    cookies, _ = session_of(ops)
    page = ops.simulate_get("/ops", cookies=cookies).text
    assert 'hx-trigger="every 5s"' in page
    assert '<p class="figure" id="stat-live">1</p>' in page
    assert "quarterly.pdf" in page
    assert token[:8] in page
    assert token not in page  # the full token is the download key


def test_session_expires_after_the_idle_time(ops, clock):
    cookies, _ = session_of(ops)
    clock.advance(601)
    assert ops.simulate_get("/ops", cookies=cookies).status_code == 303


def test_activity_slides_the_idle_timeout_but_polling_does_not(ops, clock):
    cookies, _ = session_of(ops)
    clock.advance(400)
    assert COOKIE_NAME not in ops.simulate_get("/ops/stats", cookies=cookies).cookies
    refreshed = ops.simulate_get("/ops/drops", cookies=cookies).cookies[COOKIE_NAME].value
    clock.advance(400)
    assert ops.simulate_get("/ops", cookies={COOKIE_NAME: refreshed}).status_code == 200
    assert ops.simulate_get("/ops", cookies=cookies).status_code == 303


def test_a_tampered_cookie_is_no_session(ops):
    cookies, _ = session_of(ops)
    body, signature = cookies[COOKIE_NAME].split(".")
    forged = {COOKIE_NAME: body + "." + signature[:-1] + ("0" if signature[-1] != "0" else "1")}
    assert ops.simulate_get("/ops", cookies=forged).status_code == 303


def test_htmx_request_without_a_session_is_sent_to_login(ops):
    response = ops.simulate_get("/ops/stats", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.headers["HX-Redirect"] == "/ops/login"


@pytest.mark.parametrize("csrf", [None, "", "0" * 32])
def test_an_action_without_the_csrf_token_is_403(ops, csrf):
    token = upload(ops).json["token"]
    cookies, _ = session_of(ops)
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    response = ops.simulate_post(
        f"/ops/drops/{drop_id(token)}/revoke", cookies=cookies, headers=headers
    )
    assert response.status_code == 403
    assert ops.simulate_head(f"/api/v1.0/file/{token}").status_code == 200


def test_an_action_without_a_session_is_403(ops):
    token = upload(ops).json["token"]
    response = ops.simulate_post(f"/ops/drops/{drop_id(token)}/revoke")
    assert response.status_code == 403
    assert Drop.get(Drop.token == token).status == "live"


def test_revoke_makes_the_drop_gone_and_removes_its_blob(ops, ops_config):
    token = upload(ops, max_downloads=5).json["token"]
    cookies, csrf = session_of(ops)
    response = ops.simulate_post(
        f"/ops/drops/{drop_id(token)}/revoke", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    assert "revoked" in response.text
    assert "Revoke</button>" not in response.text
    assert ops.simulate_get(f"/api/v1.0/file/{token}").status_code == 410
    assert not blob_exists(ops_config, token)
    assert Drop.get(Drop.token == token).status == REVOKED


def test_csrf_token_is_accepted_as_a_form_field(ops):
    token = upload(ops).json["token"]
    cookies, csrf = session_of(ops)
    response = ops.simulate_post(
        f"/ops/drops/{drop_id(token)}/revoke",
        cookies=cookies,
        body=f"csrf={csrf}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200


def test_revoking_an_unknown_drop_is_404(ops):
    cookies, csrf = session_of(ops)
    response = ops.simulate_post(
        "/ops/drops/999999/revoke", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 404


def test_failed_logins_are_rate_limited(ops):
    for _ in range(5):
        assert login(ops, "wrong-token-wrong-token").status_code == 403
    blocked = login(ops)  # even the right token waits now
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert COOKIE_NAME not in blocked.cookies


def test_behind_nginx_the_throttle_counts_each_real_client(ops):
    """nginx (a trusted proxy) passes the client's address in X-Real-IP."""
    attacker = {"X-Real-IP": "203.0.113.7"}
    for _ in range(5):
        assert login(ops, "wrong-token-wrong-token", headers=attacker).status_code == 403
    assert login(ops, headers=attacker).status_code == 429
    operator = login(ops, headers={"X-Real-IP": "198.51.100.20"})
    assert operator.status_code == 303


def test_x_real_ip_from_an_untrusted_peer_is_ignored(ops):
    """A client reaching gunicorn directly cannot dodge the throttle by inventing addresses."""
    for n in range(5):
        spoofed = {"X-Real-IP": f"203.0.113.{n}"}
        response = login(ops, "wrong-token-wrong-token", headers=spoofed, remote_addr="192.0.2.9")
        assert response.status_code == 403
    blocked = login(ops, headers={"X-Real-IP": "203.0.113.99"}, remote_addr="192.0.2.9")
    assert blocked.status_code == 429


def test_logout_ends_the_session(ops):
    cookies, csrf = session_of(ops)
    response = ops.simulate_post("/ops/logout", cookies=cookies, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 303
    assert response.cookies[COOKIE_NAME].value == ""


def test_stats_cards_follow_uploads(ops):
    cookies, _ = session_of(ops)
    before = ops.simulate_get("/ops/stats", cookies=cookies).text
    assert '<p class="figure" id="stat-uploads">0</p>' in before
    upload(ops, b"12345")
    after = ops.simulate_get("/ops/stats", cookies=cookies).text
    assert '<p class="figure" id="stat-uploads">1</p>' in after
    assert '<p class="figure" id="stat-bytes">5 B</p>' in after


def test_stale_worker_gets_a_banner_and_a_live_one_does_not(ops, ops_config, clock):
    cookies, _ = session_of(ops)
    assert "The worker looks dead." in ops.simulate_get("/ops/stats", cookies=cookies).text
    write_heartbeat(ops_config.data_dir, clock())
    cards = ops.simulate_get("/ops/stats", cookies=cookies).text
    assert "The worker looks dead." not in cards
    assert 'id="stat-worker">alive<' in cards


def test_drops_table_filters_by_status_and_name(ops):
    cookies, csrf = session_of(ops)
    keep = upload(ops, filename="Invoice-March.pdf").json["token"]
    upload(ops, filename="holiday.jpg")
    gone = upload(ops, filename="invoice-april.pdf").json["token"]
    ops.simulate_post(
        f"/ops/drops/{drop_id(gone)}/revoke", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )
    by_name = ops.simulate_get("/ops/drops", params={"name": "invoice"}, cookies=cookies).text
    assert "Invoice-March.pdf" in by_name and "invoice-april.pdf" in by_name
    assert "holiday.jpg" not in by_name
    live_only = ops.simulate_get(
        "/ops/drops", params={"name": "invoice", "status": "live"}, cookies=cookies
    ).text
    assert keep[:8] in live_only and gone[:8] not in live_only


def test_drops_table_is_paginated(ops, ops_config):
    cookies, _ = session_of(ops)
    for number in range(25):
        plant_drop(ops_config, filename=f"file-{number:02}.txt", age=DAY - number * DAY / 100)
    first = ops.simulate_get("/ops/drops", cookies=cookies).text
    second = ops.simulate_get("/ops/drops", params={"page": "2"}, cookies=cookies).text
    assert "file-24.txt" in first and "file-05.txt" in first and "file-04.txt" not in first
    assert "file-04.txt" in second and "file-00.txt" in second and "file-24.txt" not in second
    assert "page 2 of 2" in second
    assert "25 drops" in first


@pytest.mark.parametrize("params", [{"page": "abc"}, {"page": "-3"}, {"status": "nonsense"}])
def test_nonsense_filters_fall_back_to_defaults(ops, params):
    cookies, _ = session_of(ops)
    assert ops.simulate_get("/ops/drops", params=params, cookies=cookies).status_code == 200


def test_purge_now_runs_as_a_task_and_reports_its_result(ops, ops_config):
    cookies, csrf = session_of(ops)
    old = plant_drop(ops_config, b"x" * 10, status="expired", age=20 * DAY, gone_ago=8 * DAY)
    live = plant_drop(ops_config, b"y")
    started = ops.simulate_post("/ops/purge", cookies=cookies, headers={"X-CSRF-Token": csrf})
    assert started.status_code == 202
    poll = re.search(r'hx-get="(/ops/purge/[0-9a-f-]+)"', started.text).group(1)
    result = ops.simulate_get(poll, cookies=cookies)
    assert "Purge finished: 1 drops removed, 10 B freed." in result.text
    assert "hx-trigger" not in result.text  # polling stops
    assert Drop.get_or_none(Drop.id == old.id) is None
    assert Drop.get_or_none(Drop.id == live.id) is not None


def test_purge_now_without_csrf_is_403(ops):
    cookies, _ = session_of(ops)
    assert ops.simulate_post("/ops/purge", cookies=cookies).status_code == 403


def test_an_oversized_login_form_is_413_and_never_read(ops):
    response = ops.simulate_post(
        "/ops/login",
        body="token=" + "a" * 100_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize("backend", ["postgres"])
def test_with_redis_failed_logins_count_across_web_workers(ops_config, clock, immediate_huey):
    # Two app instances stand for two gunicorn workers sharing one Redis.
    first = falcon.testing.TestClient(create_app(ops_config, clock=clock))
    second = falcon.testing.TestClient(create_app(ops_config, clock=clock))
    for client in (first, second, first, second, first):
        assert login(client, "wrong-token-wrong-token").status_code == 403
    assert login(second).status_code == 429
    db.close()
