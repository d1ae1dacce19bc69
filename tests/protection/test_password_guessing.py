"""Guessing a drop's password: a few wrong ones, then 429 for longer and longer (API and page)."""

from __future__ import annotations

import dataclasses

import falcon.testing
import pytest
import redis

from drop import crypto
from drop.app import create_app
from drop.db.models import Drop, db
from tests.support.common import upload
from tests.support.page import press_download

ATTEMPTS, BASE, CAP = 3, 2, 8


@pytest.fixture
def client(config, clock, immediate_huey):
    limited = dataclasses.replace(
        config, password_attempts=ATTEMPTS, password_backoff_base=BASE, password_backoff_cap=CAP
    )
    yield falcon.testing.TestClient(create_app(limited, clock=clock))
    if not db.is_closed():
        db.close()


def get(client, token, password=None, address=None, method="GET"):
    headers = {"X-Drop-Password": password} if password else {}
    if address:
        headers["X-Real-IP"] = address  # as nginx, a trusted proxy, tells it
    return client.simulate_request(method, f"/api/v1.0/file/{token}", headers=headers)


def protected(client, **fields) -> str:
    return upload(client, b"secret", password="right", **fields).json["token"]


def guess_wrong(client, token, times=ATTEMPTS, **kwargs):
    for _ in range(times):
        assert get(client, token, "wrong", **kwargs).status_code == 401


def downloads_used(token: str) -> int:
    return Drop.get(Drop.token == token).downloads


def test_after_a_few_wrong_passwords_the_api_answers_429_with_retry_after(client):
    token = protected(client)
    guess_wrong(client, token)
    response = get(client, token, "wrong")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(BASE)
    assert response.json["error"] == "Too Many Requests"
    assert "try again in 2 seconds" in response.json["detail"]


def test_during_the_lock_the_right_password_waits_too_and_uses_no_download(client, clock):
    token = protected(client)
    guess_wrong(client, token)
    assert get(client, token, "right").status_code == 429
    assert downloads_used(token) == 0
    clock.advance(BASE)
    response = get(client, token, "right")
    assert response.status_code == 200
    assert response.content == b"secret"


def test_head_is_locked_like_get(client, clock):
    token = protected(client, max_downloads=2)
    guess_wrong(client, token, method="HEAD")
    response = get(client, token, "right", method="HEAD")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(BASE)
    clock.advance(BASE)
    assert get(client, token, "right", method="HEAD").status_code == 200
    assert downloads_used(token) == 0


def test_each_further_wrong_password_doubles_the_lock_up_to_the_cap(client, clock):
    token = protected(client)
    guess_wrong(client, token)
    waits = []
    for _ in range(4):
        wait = int(get(client, token, "wrong").headers["Retry-After"])
        waits.append(wait)
        clock.advance(wait)
        assert get(client, token, "wrong").status_code == 401
    assert waits == [2, 4, 8, 8]


def test_a_locked_out_guess_never_runs_the_key_derivation(client, monkeypatch):
    token = protected(client)
    calls = []
    real = crypto.verify_password

    def counting(password, stored):
        calls.append(password)
        return real(password, stored)

    monkeypatch.setattr(crypto, "verify_password", counting)
    guess_wrong(client, token)
    for _ in range(20):
        assert get(client, token, "wrong").status_code == 429
    assert len(calls) == ATTEMPTS


def test_the_lock_covers_the_drop_whichever_address_guesses(client):
    token = protected(client)
    for n in range(ATTEMPTS):
        guess_wrong(client, token, times=1, address=f"203.0.113.{n}")
    assert get(client, token, "right", address="198.51.100.1").status_code == 429


def test_the_lock_covers_every_drop_one_address_guesses(client):
    first, second = protected(client), protected(client)
    guess_wrong(client, first, address="203.0.113.7")
    assert get(client, second, "right", address="203.0.113.7").status_code == 429
    assert get(client, second, "right", address="198.51.100.1").status_code == 200


def test_right_passwords_and_missing_ones_are_not_counted_as_guesses(client):
    token = protected(client, max_downloads=10)
    for _ in range(5):
        assert get(client, token, "right").status_code == 200
        assert get(client, token).status_code == 401
    guess_wrong(client, token)
    assert get(client, token, "wrong").status_code == 429


def test_the_share_form_shows_the_lock_in_words(client):
    token = protected(client)
    for _ in range(ATTEMPTS):
        assert press_download(client, token, "wrong").status_code == 401
    response = press_download(client, token, "right")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(BASE)
    assert "Too many wrong passwords. Wait 2 seconds and try again." in response.text
    assert 'role="alert"' in response.text
    assert 'name="password" type="password"' in response.text
    assert downloads_used(token) == 0


def test_the_api_and_the_page_count_the_same_guesses(client):
    token = protected(client)
    guess_wrong(client, token, times=ATTEMPTS - 1)
    assert press_download(client, token, "wrong").status_code == 401
    assert get(client, token, "right").status_code == 429


@pytest.mark.parametrize("backend", ["postgres"])
def test_401_and_429_are_never_cached(client, redis_client):
    token = protected(client)
    path = f"/api/v1.0/file/{token}"
    answers = [get(client, token, "wrong") for _ in range(ATTEMPTS + 2)]
    assert [a.status_code for a in answers] == [401] * ATTEMPTS + [429, 429]
    assert all("X-Drop-Cache" not in a.headers for a in answers)
    assert not [key for key in redis_client.scan_iter() if path.encode() in key]


def test_no_counter_keeps_the_drops_token(client, config):
    """The guesses on a drop are counted for 24 hours under a hash of its token: the
    token itself is the download key, and a counter must not keep it."""
    token = protected(client)
    guess_wrong(client, token, times=1)
    names = [row[0] for row in db.execute_sql("SELECT name FROM rate_counter").fetchall()]
    if config.redis_url:
        names += [key.decode() for key in redis.Redis.from_url(config.redis_url).scan_iter()]
    assert any(name.startswith(("password:drop:", "drop:limits:password:drop:")) for name in names)
    assert not [name for name in names if token in name]
