"""Dashboard sessions: ended server-side by logout, bounded in time, never broken by junk
cookies, and every /ops answer carries the public pages' security headers."""

from __future__ import annotations

import dataclasses
import socket
import time

import falcon.testing
import pytest
import redis

from drop.app import create_app
from drop.config import MIN_SECRET_KEY_CHARS, Config, ConfigError
from drop.db.models import Drop, db, init_database
from drop.ops.session import COOKIE_NAME
from drop.ops.session_store import DatabaseSessionStore, OpsSession
from drop.web.pages import CONTENT_SECURITY_POLICY
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, login, session_of
from tests.support.common import LiveServer, upload

IDLE, LIFETIME = 600, 3600


@pytest.fixture
def ops_config(config):
    return dataclasses.replace(
        config, admin_token=ADMIN_TOKEN, admin_session_idle=IDLE, admin_session_max=LIFETIME
    )


@pytest.fixture
def ops(ops_config, clock, immediate_huey):
    app = create_app(ops_config, clock=clock)
    yield falcon.testing.TestClient(app)
    if not db.is_closed():
        db.close()


def revoke(client, token: str, cookies, csrf):
    drop_id = Drop.get(Drop.token == token).id
    return client.simulate_post(
        f"/ops/drops/{drop_id}/revoke", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )


def logout(client, cookies, csrf):
    return client.simulate_post("/ops/logout", cookies=cookies, headers={"X-CSRF-Token": csrf})


def test_after_logout_a_copy_of_the_old_cookie_works_for_nothing(ops):
    token = upload(ops).json["token"]
    cookies, csrf = session_of(ops)
    assert logout(ops, cookies, csrf).status_code == 303

    assert ops.simulate_get("/ops", cookies=cookies).status_code == 303
    assert ops.simulate_get("/ops/stats", cookies=cookies).status_code == 303
    assert ops.simulate_get("/ops/drops", cookies=cookies).status_code == 303
    assert revoke(ops, token, cookies, csrf).status_code == 403
    purge = ops.simulate_post("/ops/purge", cookies=cookies, headers={"X-CSRF-Token": csrf})
    assert purge.status_code == 403
    assert logout(ops, cookies, csrf).status_code == 403
    assert Drop.get(Drop.token == token).status == "live"


def test_logging_out_ends_only_that_session(ops):
    first, first_csrf = session_of(ops)
    second, _ = session_of(ops)
    logout(ops, first, first_csrf)
    assert ops.simulate_get("/ops", cookies=first).status_code == 303
    assert ops.simulate_get("/ops", cookies=second).status_code == 200


def test_a_session_ends_at_its_absolute_lifetime_however_active(ops, clock):
    cookies, _ = session_of(ops)
    for _ in range(LIFETIME // 500):
        clock.advance(500)  # within the idle time: each click slides it forward
        answer = ops.simulate_get("/ops", cookies=cookies)
        assert answer.status_code == 200
        cookies = {COOKIE_NAME: answer.cookies[COOKIE_NAME].value}
    clock.advance(LIFETIME - (LIFETIME // 500) * 500 + 1)
    assert ops.simulate_get("/ops", cookies=cookies).status_code == 303


def test_the_cookie_never_outlives_the_session(ops, clock):
    cookies, _ = session_of(ops)
    assert ops.simulate_get("/ops", cookies=cookies).cookies[COOKIE_NAME].max_age == IDLE
    clock.advance(LIFETIME - 100)
    # An idle session this old is over anyway; log in and keep it alive until near its end.
    cookies, _ = session_of(ops)
    for _ in range(6):
        clock.advance(590)
        answer = ops.simulate_get("/ops", cookies=cookies)
        cookies = {COOKIE_NAME: answer.cookies[COOKIE_NAME].value}
    assert answer.cookies[COOKIE_NAME].max_age == LIFETIME - 6 * 590


@pytest.mark.parametrize("backend", ["sqlite"])  # without Redis: the embedded database
def test_a_database_session_row_is_removed_on_logout_and_expired_ones_on_login(ops, clock):
    cookies, csrf = session_of(ops)
    assert OpsSession.select().count() == 1
    logout(ops, cookies, csrf)
    assert OpsSession.select().count() == 0
    session_of(ops)
    clock.advance(LIFETIME + 1)
    session_of(ops)
    assert OpsSession.select().count() == 1


def test_sessions_live_in_the_database_and_end_with_their_lifetime(ops, redis_client):
    cookies, csrf = session_of(ops)
    (row,) = OpsSession.select()
    assert 0 < row.expires_at - int(time.time()) <= LIFETIME + 5
    assert redis_client.keys("drop:ops:session:*") == []
    logout(ops, cookies, csrf)
    assert OpsSession.select().count() == 0


@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.parametrize("rotated", ["admin_token", "secret_key"])
def test_rotating_the_admin_token_or_the_secret_key_ends_every_session(
    ops_config, clock, immediate_huey, rotated
):
    before = dataclasses.replace(ops_config, secret_key="k" * MIN_SECRET_KEY_CHARS)
    client = falcon.testing.TestClient(create_app(before, clock=clock))
    cookies, _ = session_of(client)
    assert client.simulate_get("/ops", cookies=cookies).status_code == 200

    after = dataclasses.replace(before, **{rotated: "r" * MIN_SECRET_KEY_CHARS})
    rotated_client = falcon.testing.TestClient(create_app(after, clock=clock))
    assert rotated_client.simulate_get("/ops", cookies=cookies).status_code == 303


def test_the_dashboard_needs_no_redis(ops_config, clock, immediate_huey):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    client = falcon.testing.TestClient(create_app(ops_config, clock=clock, redis_client=dead))
    cookies, _ = session_of(client)
    assert client.simulate_get("/ops", cookies=cookies).status_code == 200


JUNK_COOKIES = [
    "\xff",
    "a\xffb.c",
    "\xe9t\xe9.\xe9t\xe9",
    "\x00\x01.\x02",
    '"unterminated',
    "x" * 5000,
    "a.b.c",
    "bm90LWpzb24.0000",
    "e30.0000",
    ".",
]
ROUTES = [
    ("GET", "/ops"),
    ("GET", "/ops/login"),
    ("POST", "/ops/login"),
    ("GET", "/ops/stats"),
    ("GET", "/ops/drops"),
    ("POST", "/ops/drops/1/revoke"),
    ("POST", "/ops/purge"),
    ("GET", "/ops/purge/0f0f"),
    ("POST", "/ops/logout"),
]


@pytest.mark.parametrize("junk", JUNK_COOKIES)
def test_a_junk_cookie_is_no_session_on_every_route(ops, junk):
    for method, path in ROUTES:
        for headers in ({}, {"HX-Request": "true"}):
            answer = ops.simulate_request(
                method, path, headers={"Cookie": f"{COOKIE_NAME}={junk}", **headers}
            )
            assert answer.status_code in (200, 303, 403), (method, path, answer.text)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_non_ascii_bytes_in_the_cookie_through_gunicorn_are_no_session(config):
    with LiveServer(config, workers=1, DROP_ADMIN_TOKEN=ADMIN_TOKEN) as server:
        for method, path in ROUTES:
            for junk in (b"\xff", b"a\xffb.c", b"\xc3\xa9.\x80", b"\x7f"):
                request = (
                    f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n".encode()
                    + b"Cookie: drop_ops="
                    + junk
                    + b"\r\nConnection: close\r\n\r\n"
                )
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                    sock.sendall(request)
                    status_line = sock.recv(64).split(b"\r\n")[0]
                status = int(status_line.split()[1])
                assert status in (200, 303, 400, 403), (method, path, junk, status_line)
    assert "Traceback" not in server.log.read_text()


SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def test_every_dashboard_page_fragment_and_refusal_carries_the_security_headers(ops):
    token = upload(ops).json["token"]
    anonymous = [
        ops.simulate_get("/ops/login"),
        ops.simulate_get("/ops"),
        ops.simulate_get("/ops/stats", headers={"HX-Request": "true"}),
        ops.simulate_post("/ops/purge"),
        login(ops, "wrong-token-wrong-token"),
        login(ops),
    ]
    cookies, csrf = session_of(ops)
    headers = {"X-CSRF-Token": csrf}
    signed_in = [
        ops.simulate_get("/ops", cookies=cookies),
        ops.simulate_get("/ops/stats", cookies=cookies, headers={"HX-Request": "true"}),
        ops.simulate_get("/ops/drops", cookies=cookies, headers={"HX-Request": "true"}),
        ops.simulate_get("/ops/drops", cookies=cookies, params={"page": "9" * 50}),
        revoke(ops, token, cookies, csrf),
        ops.simulate_post("/ops/drops/999999/revoke", cookies=cookies, headers=headers),
        ops.simulate_post("/ops/purge", cookies=cookies, headers=headers),
        ops.simulate_get("/ops/purge/abc", cookies=cookies),
        ops.simulate_get("/ops/purge/not-a-task!", cookies=cookies),
        ops.simulate_get("/ops/login", cookies=cookies),
        logout(ops, cookies, csrf),
    ]
    for answer in anonymous + signed_in:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.status, name)


def test_the_public_pages_send_the_same_policy(ops):
    home = ops.simulate_get("/")
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
        assert home.headers[name] == SECURITY_HEADERS[name]


def test_a_short_secret_key_is_refused():
    with pytest.raises(ConfigError, match="DROP_SECRET_KEY must be at least 32"):
        Config.from_env({"DROP_SECRET_KEY": "s" * (MIN_SECRET_KEY_CHARS - 1)})
    assert Config.from_env({"DROP_SECRET_KEY": "s" * MIN_SECRET_KEY_CHARS}).secret_key


def test_the_absolute_lifetime_is_a_setting():
    assert Config.from_env({}).admin_session_max == 12 * 60 * 60
    assert Config.from_env({"DROP_ADMIN_SESSION_MAX": "7200"}).admin_session_max == 7200
    with pytest.raises(ConfigError, match="DROP_ADMIN_SESSION_MAX"):
        Config.from_env({"DROP_ADMIN_SESSION_MAX": "0"})


def test_the_database_registry_works_on_both_databases(config):
    database = init_database(config.effective_database_url)
    store = DatabaseSessionStore()
    with database.connection_context():
        store.add("first", now=1000, expires_at=2000)
        store.add("second", now=1000, expires_at=5000)
        assert store.is_live("first", now=1999) and not store.is_live("first", now=2000)
        store.end("second")
        assert not store.is_live("second", now=1001)
        store.add("third", now=3000, expires_at=9000)  # a login clears rows past their end
        assert OpsSession.select().count() == 1
