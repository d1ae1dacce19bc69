"""DROP_ACCEL_REDIRECT: drop decides whether a download may happen, nginx sends the bytes."""

import dataclasses
import datetime

import falcon.testing
import pytest

from drop.app import create_app
from drop.config import ACCEL_DELETE_GRACE_SECONDS, Config
from drop.db.models import Drop
from tests.support.common import upload
from tests.support.page import press_download

ACCEL = "/_drop_blobs"


@pytest.fixture
def accel_client(config, clock, immediate_huey):
    accel = dataclasses.replace(config, accel_redirect=ACCEL, delete_grace_seconds=60)
    return falcon.testing.TestClient(create_app(accel, clock=clock))


def test_download_names_the_blob_for_nginx_instead_of_sending_it(accel_client):
    token = upload(accel_client, b"<html>", content_type="text/html").json["token"]
    response = accel_client.simulate_get(f"/api/v1.0/file/{token}")
    assert response.status_code == 200
    assert response.headers["X-Accel-Redirect"] == f"{ACCEL}/{token[:2]}/{token}"
    assert response.content == b""
    assert response.headers["Content-Type"] == "text/html"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["Cache-Control"] == "no-store"
    assert Drop.get(Drop.token == token).downloads == 1


def test_the_pages_download_button_also_hands_the_bytes_to_nginx(accel_client):
    token = upload(accel_client, b"via the page").json["token"]
    response = press_download(accel_client, token)
    assert response.status_code == 200
    assert response.headers["X-Accel-Redirect"] == f"{ACCEL}/{token[:2]}/{token}"
    assert response.content == b""
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert press_download(accel_client, token).status_code == 410


def test_second_accel_download_is_gone(accel_client):
    token = upload(accel_client).json["token"]
    accel_client.simulate_get(f"/api/v1.0/file/{token}")
    second = accel_client.simulate_get(f"/api/v1.0/file/{token}")
    assert second.status_code == 410
    assert "X-Accel-Redirect" not in second.headers


def test_last_accel_download_leaves_the_blob_for_the_grace_delay(accel_client, blob_dir):
    from drop.tasks import huey

    token = upload(accel_client).json["token"]
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    accel_client.simulate_get(f"/api/v1.0/file/{token}")
    assert (blob_dir / token[:2] / token).exists()
    (deletion,) = [task for task in huey.scheduled() if task.args[1] == token]
    assert deletion.name == "delete_blob"
    assert deletion.eta >= before + datetime.timedelta(seconds=60)
    huey.flush()


def test_accel_password_is_still_checked(accel_client):
    token = upload(accel_client, password="pw").json["token"]
    refused = accel_client.simulate_get(f"/api/v1.0/file/{token}")
    assert refused.status_code == 401
    assert "X-Accel-Redirect" not in refused.headers
    allowed = accel_client.simulate_get(
        f"/api/v1.0/file/{token}", headers={"X-Drop-Password": "pw"}
    )
    assert allowed.status_code == 200


def test_accel_missing_blob_is_gone_and_uses_no_download(accel_client, blob_dir):
    token = upload(accel_client).json["token"]
    (blob_dir / token[:2] / token).unlink()
    assert accel_client.simulate_get(f"/api/v1.0/file/{token}").status_code == 410
    assert Drop.get(Drop.token == token).downloads == 0


def test_head_with_accel_uses_no_download(accel_client):
    token = upload(accel_client).json["token"]
    assert accel_client.simulate_head(f"/api/v1.0/file/{token}").status_code == 200
    assert Drop.get(Drop.token == token).downloads == 0


def test_accel_turns_on_a_grace_delay_by_default():
    config = Config.from_env({"DROP_ACCEL_REDIRECT": "/_drop_blobs/"})
    assert config.accel_redirect == "/_drop_blobs"
    assert config.delete_grace_seconds == ACCEL_DELETE_GRACE_SECONDS > 0


def test_an_explicit_grace_delay_wins():
    env = {"DROP_ACCEL_REDIRECT": "/_drop_blobs", "DROP_DELETE_GRACE_SECONDS": "5"}
    assert Config.from_env(env).delete_grace_seconds == 5


def test_without_accel_there_is_no_grace_delay_by_default():
    assert Config.from_env({}).delete_grace_seconds == 0
