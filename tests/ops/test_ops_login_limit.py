"""The dashboard login's limit: 5 failures per address in 5 minutes, counted before the check."""

from __future__ import annotations

import dataclasses

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import db

ADMIN_TOKEN = "correct-horse-battery-staple"
WRONG = "wrong-token-wrong-token"


@pytest.fixture
def ops(config, clock, immediate_huey):
    ops_config = dataclasses.replace(config, admin_token=ADMIN_TOKEN)
    yield falcon.testing.TestClient(create_app(ops_config, clock=clock))
    if not db.is_closed():
        db.close()


def login(client, token: str):
    return client.simulate_post(
        "/ops/login",
        body=f"token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_the_lock_lasts_five_minutes_from_the_fifth_failure(ops, clock):
    for _ in range(5):
        assert login(ops, WRONG).status_code == 403
    blocked = login(ops, ADMIN_TOKEN)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "300"
    clock.advance(299)
    assert login(ops, ADMIN_TOKEN).status_code == 429
    clock.advance(1)
    assert login(ops, ADMIN_TOKEN).status_code == 303


def test_a_successful_login_is_not_counted_as_a_failure(ops):
    for _ in range(4):
        assert login(ops, WRONG).status_code == 403
    for _ in range(3):
        assert login(ops, ADMIN_TOKEN).status_code == 303
    assert login(ops, WRONG).status_code == 403
    assert login(ops, ADMIN_TOKEN).status_code == 429
