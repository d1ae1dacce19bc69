"""The 4XX cache on the embedded default: no Redis, so each process keeps its answers."""

import dataclasses
import time

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import Drop
from tests.support.common import gone_then_its_row_deleted, upload

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def test_a_410_is_answered_from_memory_without_the_database(client):
    first, second = gone_then_its_row_deleted(
        client, lambda token: Drop.delete().where(Drop.token == token).execute()
    )
    assert (first.status_code, first.headers["X-Drop-Cache"]) == (410, "miss")
    assert (second.status_code, second.headers["X-Drop-Cache"]) == (410, "hit")
    assert second.json["error"] == "Gone"


def test_a_404_is_cached_per_method(client):
    path = "/api/v1.0/file/" + "f" * 32
    assert client.simulate_get(path).headers["X-Drop-Cache"] == "miss"
    assert client.simulate_head(path).headers["X-Drop-Cache"] == "miss"
    again = client.simulate_get(path)
    assert (again.status_code, again.headers["X-Drop-Cache"]) == (404, "hit")
    assert again.json == {
        "error": "Not Found",
        "detail": "there is no file with this token; check the link",
    }


def test_live_downloads_and_401s_are_never_cached(client):
    token = upload(client, max_downloads=2).json["token"]
    assert "X-Drop-Cache" not in client.simulate_get(f"/api/v1.0/file/{token}").headers
    protected = upload(client, password="pw").json["token"]
    for _ in range(2):
        refused = client.simulate_get(f"/api/v1.0/file/{protected}")
        assert refused.status_code == 401
        assert "X-Drop-Cache" not in refused.headers
    opened = client.simulate_get(f"/api/v1.0/file/{protected}", headers={"X-Drop-Password": "pw"})
    assert opened.status_code == 200


def test_an_answer_is_forgotten_after_the_ttl(config, clock, immediate_huey):
    client = falcon.testing.TestClient(
        create_app(dataclasses.replace(config, error_cache_ttl=1), clock=clock)
    )
    path = "/api/v1.0/file/" + "e" * 32
    client.simulate_get(path)
    assert client.simulate_get(path).headers["X-Drop-Cache"] == "hit"
    time.sleep(1.1)
    assert client.simulate_get(path).headers["X-Drop-Cache"] == "miss"
