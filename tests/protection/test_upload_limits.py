"""Upload floods: uploads and stored bytes per client address per hour."""

from __future__ import annotations

import dataclasses

import falcon.testing
import pytest

from drop.app import create_app
from drop.config import Config
from drop.db.models import Drop, db
from tests.support.common import UPLOAD, multipart, upload
from tests.support.page import page_upload


@pytest.fixture
def limited(config, clock, immediate_huey):
    def build(**limits) -> falcon.testing.TestClient:
        return falcon.testing.TestClient(
            create_app(dataclasses.replace(config, **limits), clock=clock)
        )

    yield build
    if not db.is_closed():
        db.close()


def from_address(address: str) -> dict[str, str]:
    return {"X-Real-IP": address}  # as nginx, a trusted proxy, tells it


def upload_from(client, address: str, content: bytes = b"x"):
    body, headers = multipart(content)
    return client.simulate_put(UPLOAD, body=body, headers={**headers, **from_address(address)})


def test_limits_are_on_by_default_and_generous():
    config = Config.from_env({})
    assert config.uploads_per_hour == 100
    assert config.upload_bytes_per_hour == 10 * 1024**3


def test_uploads_past_the_hourly_count_are_429_until_the_hour_is_over(limited, clock):
    client = limited(uploads_per_hour=2)
    assert [upload(client).status_code for _ in range(2)] == [201, 201]
    response = upload(client)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3600"
    assert response.json["error"] == "Too Many Requests"
    assert "2 uploads this hour" in response.json["detail"]
    assert Drop.select().count() == 2
    clock.advance(3600)
    assert upload(client).status_code == 201


def test_uploads_past_the_hourly_bytes_are_429(limited, clock):
    client = limited(upload_bytes_per_hour=10)
    assert upload(client, b"12345678").status_code == 201
    assert upload(client, b"12345678").status_code == 201  # 8 of 10 bytes stored before it
    response = upload(client, b"1")
    assert response.status_code == 429
    assert "10 bytes this hour" in response.json["detail"]
    clock.advance(1800)
    assert int(upload(client, b"1").headers["Retry-After"]) == 1800


def test_refused_uploads_use_none_of_the_quota(limited):
    client = limited(uploads_per_hour=1, upload_bytes_per_hour=10, max_upload_bytes=20)
    assert upload(client, b"x" * 21).status_code == 413
    assert upload(client, max_downloads="0").status_code == 400
    assert upload(client, b"x" * 10).status_code == 201


def test_each_client_address_has_its_own_quota(limited):
    client = limited(uploads_per_hour=1)
    assert upload_from(client, "203.0.113.7").status_code == 201
    assert upload_from(client, "203.0.113.7").status_code == 429
    assert upload_from(client, "198.51.100.1").status_code == 201


def test_zero_turns_the_limits_off(limited):
    client = limited(uploads_per_hour=0, upload_bytes_per_hour=0)
    assert all(upload(client).status_code == 201 for _ in range(5))


def test_the_page_and_the_api_share_the_quota_and_the_page_says_so(limited):
    client = limited(uploads_per_hour=1)
    assert upload(client).status_code == 201
    response = page_upload(client, htmx=False)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3600"
    assert "Slow down" in response.text
    assert "1 upload this hour" in response.text
