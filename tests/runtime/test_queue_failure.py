"""A queue that fails when a drop goes never fails the answer: the sweep deletes the blob later.

The fault is injected where the app queues a blob's deletion (create_app's
`schedule_blob_deletion`), as Redis, the SQLite queue or Huey itself would raise it.
tests/runtime/test_queue_failure_live.py does the same against real gunicorn, nginx and a Redis
that is stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3

import falcon.testing
import pytest
import redis

from drop.app import create_app
from drop.db.models import DELETED, DOWNLOADED, Drop, db
from drop.drops import lifecycle as drops
from drop.storage.local import LocalStorage
from tests.support.common import upload
from tests.support.page import FORM, delete_key, page_upload, press_download, share_token

ACCEL = "/_drop_blobs"
GRACE = 60
FAULTS = [
    redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    redis.TimeoutError("Timeout reading from socket"),
    sqlite3.OperationalError("database is locked"),
]


class FailingQueue:
    """A scheduling function that raises `fault` each time, counting the tries."""

    def __init__(self, fault: Exception):
        self.fault = fault
        self.calls: list[str] = []

    def __call__(self, token: str, keep_seconds: int = 0) -> None:
        self.calls.append(token)
        raise self.fault


@pytest.fixture(params=FAULTS, ids=lambda fault: type(fault).__name__)
def queue(request) -> FailingQueue:
    return FailingQueue(request.param)


@pytest.fixture(params=["direct", "accel"])
def mode(request) -> str:
    return request.param


@pytest.fixture
def served(config, mode):
    if mode == "accel":
        return dataclasses.replace(config, accel_redirect=ACCEL, delete_grace_seconds=GRACE)
    return config


@pytest.fixture
def client(served, clock, queue):
    yield falcon.testing.TestClient(create_app(served, clock=clock, schedule_blob_deletion=queue))
    if not db.is_closed():
        db.close()


def blob_path(config, token: str):
    return LocalStorage(config.data_dir).path_for(token)


def sweep(config, clock) -> drops.SweepReport:
    with db.connection_context():
        return drops.sweep(LocalStorage(config.data_dir), clock(), config.delete_grace_seconds)


def assert_one_warning_without_traceback(caplog, token: str) -> None:
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].getMessage().startswith(f"blob of drop {token[:8]}… left to the sweep")
    assert warnings[0].exc_info is None
    assert token not in warnings[0].getMessage()


def test_last_download_is_the_file_when_the_queue_fails(client, served, mode, queue, caplog):
    token = upload(client, b"one time only").json["token"]
    response = client.simulate_get(f"/api/v1.0/file/{token}")
    assert response.status_code == 200
    if mode == "accel":
        assert response.headers["X-Accel-Redirect"] == f"{ACCEL}/{token[:2]}/{token}"
    else:
        assert response.content == b"one time only"
    assert queue.calls == [token]
    assert Drop.get(Drop.token == token).status == DOWNLOADED
    assert_one_warning_without_traceback(caplog, token)
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 410


def test_the_pages_download_button_too(client, served, mode, queue, caplog):
    token = upload(client, b"via the page").json["token"]
    response = press_download(client, token)
    assert response.status_code == 200
    if mode == "direct":
        assert response.content == b"via the page"
    assert queue.calls == [token]
    assert_one_warning_without_traceback(caplog, token)


def test_the_sweep_deletes_the_blob_after_the_grace_delay(client, served, clock, queue):
    token = upload(client, b"one time only").json["token"]
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 200
    if served.delete_grace_seconds:
        # nginx may not have opened the blob yet: the sweep keeps it for the grace delay.
        clock.advance(served.delete_grace_seconds - 1)
        assert sweep(served, clock).blobs_deleted == 0
        assert blob_path(served, token).exists()
        clock.advance(2)
    assert sweep(served, clock).blobs_deleted == 1
    assert not blob_path(served, token).exists()


def test_api_delete_is_204_when_the_queue_fails(client, served, clock, queue, caplog):
    made = upload(client).json
    response = client.simulate_delete(
        f"/api/v1.0/file/{made['token']}", headers={"X-Delete-Token": made["delete_token"]}
    )
    assert response.status_code == 204
    assert Drop.get(Drop.token == made["token"]).status == DELETED
    assert_one_warning_without_traceback(caplog, made["token"])
    clock.advance(served.delete_grace_seconds + 1)
    assert sweep(served, clock).blobs_deleted == 1
    assert not blob_path(served, made["token"]).exists()


def test_page_delete_says_deleted_when_the_queue_fails(client, served, clock, queue, caplog):
    made = page_upload(client)
    token, key = share_token(made), delete_key(made)
    response = client.simulate_post(f"/d/{token}/delete", body=f"key={key}", headers=FORM)
    assert response.status_code == 200
    assert "Deleted" in response.text
    assert_one_warning_without_traceback(caplog, token)
    clock.advance(served.delete_grace_seconds + 1)
    assert sweep(served, clock).blobs_deleted == 1
    assert not blob_path(served, token).exists()
