"""The Redis 4XX cache: deterministic errors answered without the database."""

import dataclasses
import logging

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import Drop
from drop.web.error_cache import cache_key
from tests.support.common import gone_then_its_row_deleted, upload

pytestmark = pytest.mark.parametrize("backend", ["postgres"])  # the backend with Redis


def test_a_410_is_answered_from_the_cache_without_the_database(client):
    first, second = gone_then_its_row_deleted(
        client, lambda token: Drop.delete().where(Drop.token == token).execute()
    )
    assert (first.status_code, first.headers["X-Drop-Cache"]) == (410, "miss")
    assert (second.status_code, second.headers["X-Drop-Cache"]) == (410, "hit")
    assert second.json["error"] == "Gone"


def test_a_404_is_cached_per_method_and_path(client, redis_client):
    path = "/api/v1.0/file/" + "f" * 32
    client.simulate_get(path)
    assert redis_client.exists(cache_key("GET", path))
    assert not redis_client.exists(cache_key("HEAD", path))
    assert client.simulate_get(path).headers["X-Drop-Cache"] == "hit"


def test_a_cached_405_keeps_its_allow_header(client):
    client.simulate_patch("/api/v1.0/file")
    response = client.simulate_patch("/api/v1.0/file")
    assert response.headers["X-Drop-Cache"] == "hit"
    assert response.status_code == 405
    assert "PUT" in response.headers["Allow"]


def test_cached_entries_expire_with_the_ttl(client, redis_client, config):
    path = "/api/v1.0/file/" + "e" * 32
    client.simulate_get(path)
    assert 0 < redis_client.ttl(cache_key("GET", path)) <= config.error_cache_ttl


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1.0/nothing-here",
        "/api/v1.0/file/not-a-token",
        "/api/v1.0/file/" + "A" * 32,
        "/api/v1.0/file/" + "a" * 33,
        "/api/v1.0/file/" + "a" * 32 + "/name/deeper",
        "/api/v2.0/file/" + "a" * 32,
        "/api/" + "x" * 5000,
    ],
)
def test_invented_paths_never_become_redis_keys(client, redis_client, path):
    for _ in range(2):
        assert client.simulate_get(path).status_code == 404
    assert redis_client.keys("*") == []


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")  # the invented method
def test_invented_methods_never_become_redis_keys(client, redis_client):
    path = "/api/v1.0/file/" + "a" * 32
    for _ in range(2):
        assert client.simulate_request("FROBNICATE", path).status_code in (400, 405)
    assert redis_client.keys("*") == []


def test_every_name_after_a_token_shares_one_short_key(client, redis_client):
    token = "b" * 32
    for name in ("a.txt", "b.txt", "x" * 2000):
        client.simulate_get(f"/api/v1.0/file/{token}/{name}")
    assert redis_client.keys("*") == [cache_key("GET", f"/api/v1.0/file/{token}/a.txt").encode()]
    assert all(len(key) <= 64 for key in redis_client.keys("*"))


def test_cache_keys_live_under_their_own_prefix(client, redis_client):
    token = "c" * 32
    client.simulate_get(f"/api/v1.0/file/{token}")
    client.simulate_delete(f"/api/v1.0/file/{token}/name")
    assert redis_client.keys("*")
    assert all(key.startswith(b"drop:4xx:") for key in redis_client.keys("*"))


def test_401_is_never_cached(client, redis_client):
    token = upload(client, password="pw").json["token"]
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 401
    assert redis_client.keys("drop:4xx:*") == []
    ok = client.simulate_get(f"/api/v1.0/file/{token}", headers={"X-Drop-Password": "pw"})
    assert ok.status_code == 200


def test_400_and_413_are_never_cached(client, redis_client):
    client.simulate_put("/api/v1.0/file", body=b"x", headers={"Content-Type": "text/plain"})
    upload(client, max_downloads="-1")
    client.simulate_put(
        "/api/v1.0/file",
        body=b"",
        headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(1 << 30)},
    )
    assert redis_client.keys("drop:4xx:*") == []


def test_live_downloads_are_never_cached(client, redis_client):
    token = upload(client, max_downloads=2).json["token"]
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 200
    assert redis_client.keys("drop:4xx:*") == []


def cache_lookups(redis_client) -> int:
    """GETs Redis has answered so far (the 4XX cache's lookups)."""
    return redis_client.info("commandstats").get("cmdstat_get", {}).get("calls", 0)


def test_an_upload_is_never_looked_up_in_the_cache(client, redis_client):
    # An upload never answers 404, 405 or 410: the lookup would always miss.
    before = cache_lookups(redis_client)
    assert upload(client).status_code == 201
    assert client.simulate_post("/api/v1.0/file").status_code == 400
    assert cache_lookups(redis_client) == before
    assert cache_key("PUT", "/api/v1.0/file/" + "a" * 32) is not None  # that one is a 405


def test_a_drop_just_served_with_downloads_left_is_downloaded_without_a_cache_lookup(
    client, redis_client
):
    token = upload(client, max_downloads=3).json["token"]
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 200
    before = cache_lookups(redis_client)
    second = client.simulate_get(f"/api/v1.0/file/{token}/any-name.txt")
    assert (second.status_code, second.text) == (200, "hello drop\n")
    assert cache_lookups(redis_client) == before
    # Its last download is served too; from then on the cache is asked, and answers.
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 200
    gone = client.simulate_get(f"/api/v1.0/file/{token}")
    assert (gone.status_code, gone.headers["X-Drop-Cache"]) == (410, "miss")
    assert client.simulate_get(f"/api/v1.0/file/{token}").headers["X-Drop-Cache"] == "hit"


def test_a_drop_served_then_deleted_answers_410_and_is_cached_again(client, redis_client):
    uploaded = upload(client, max_downloads=5).json
    token = uploaded["token"]
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 200
    deleted = client.simulate_delete(
        f"/api/v1.0/file/{token}", headers={"X-Delete-Token": uploaded["delete_token"]}
    )
    assert deleted.status_code == 204
    # Served a moment ago, so the cache is skipped: the failed claim reads the row.
    first = client.simulate_get(f"/api/v1.0/file/{token}")
    assert (first.status_code, first.headers["X-Drop-Cache"]) == (410, "miss")
    # Only the cache can answer once the row is gone: it is asked again.
    Drop.delete().where(Drop.token == token).execute()
    second = client.simulate_get(f"/api/v1.0/file/{token}")
    assert (second.status_code, second.headers["X-Drop-Cache"]) == (410, "hit")


def test_redis_down_still_answers_and_warns_once(config, clock, immediate_huey, caplog):
    down = dataclasses.replace(config, redis_url="redis://127.0.0.1:1/0")
    client = falcon.testing.TestClient(create_app(down, clock=clock))
    path = "/api/v1.0/file/" + "d" * 32
    with caplog.at_level(logging.WARNING, logger="drop.web.error_cache"):
        answers = [client.simulate_get(path) for _ in range(3)]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert all("X-Drop-Cache" not in a.headers for a in answers)
    assert upload(client).status_code == 201
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1


def test_redis_url_in_the_warning_never_shows_a_password(config, clock, immediate_huey, caplog):
    down = dataclasses.replace(config, redis_url="redis://:hunter2@127.0.0.1:1/0")
    client = falcon.testing.TestClient(create_app(down, clock=clock))
    with caplog.at_level(logging.WARNING):
        client.simulate_get("/api/v1.0/file/" + "c" * 32)
    assert "hunter2" not in caplog.text


def test_a_repeated_error_is_answered_from_memory_without_redis(client, redis_client):
    path = "/api/v1.0/file/" + "b" * 32
    assert client.simulate_get(path).headers["X-Drop-Cache"] == "miss"
    # Gone from Redis: only the process's own copy can still answer it as a hit.
    redis_client.delete(cache_key("GET", path))
    again = client.simulate_get(path)
    assert (again.status_code, again.headers["X-Drop-Cache"]) == (404, "hit")
    assert again.json == {
        "error": "Not Found",
        "detail": "there is no file with this token; check the link",
    }
