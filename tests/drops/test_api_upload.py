"""PUT /api/v1.0/file: storing an upload and answering with its link."""

import hashlib
import re

from drop.db.models import Drop
from tests.support.common import UPLOAD, multipart, upload


def test_upload_answers_201_with_the_seed_fields_and_more(client):
    response = upload(client, b"payload")
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "File Uploaded Successfully"
    assert re.fullmatch(r"[0-9a-f]{32}", body["token"])
    assert body["url"] == f"http://falconframework.org/api/v1.0/file/{body['token']}"
    assert body["share_url"] == f"http://falconframework.org/d/{body['token']}"
    assert body["max_downloads"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["expires_at"])
    assert re.fullmatch(r"[0-9a-f]{32}", body["delete_token"])


def test_upload_stores_bytes_under_a_path_from_the_token_alone(client, blob_dir):
    token = upload(client, b"abc", filename="../../etc/passwd").json["token"]
    assert (blob_dir / token[:2] / token).read_bytes() == b"abc"
    assert [p.name for p in blob_dir.rglob("*") if p.is_file()] == [token]


def test_upload_records_size_hash_and_type(client):
    token = upload(client, b"\x89PNG....", filename="a.png", content_type="image/png").json["token"]
    drop = Drop.get(Drop.token == token)
    assert drop.size == 8
    assert drop.sha256 == hashlib.sha256(b"\x89PNG....").hexdigest()
    assert drop.content_type == "image/png"
    assert drop.filename == "a.png"


def test_password_is_stored_as_an_scrypt_hash(client):
    token = upload(client, password="correct horse").json["token"]
    stored = Drop.get(Drop.token == token).password_hash
    assert stored.startswith("scrypt$")
    assert "correct horse" not in stored


def test_delete_token_is_stored_hashed(client):
    body = upload(client).json
    assert Drop.get(Drop.token == body["token"]).delete_token_hash != body["delete_token"]


def test_tokens_differ_between_uploads_of_the_same_bytes(client):
    assert upload(client, b"same").json["token"] != upload(client, b"same").json["token"]


def test_expires_in_and_max_downloads_are_honoured(client, clock):
    body = upload(client, expires_in=60, max_downloads=5).json
    drop = Drop.get(Drop.token == body["token"])
    assert (drop.expires_at - clock.now).total_seconds() == 60
    assert drop.max_downloads == 5 and body["max_downloads"] == 5


def test_base_url_setting_shapes_the_link(config, clock, immediate_huey):
    import dataclasses

    import falcon.testing

    from drop.app import create_app

    app = create_app(dataclasses.replace(config, base_url="https://drop.example"), clock=clock)
    body = upload(falcon.testing.TestClient(app)).json
    assert body["url"] == f"https://drop.example/api/v1.0/file/{body['token']}"
    assert body["share_url"] == f"https://drop.example/d/{body['token']}"


def test_no_temp_file_is_left_after_a_successful_upload(client, config, uploads_in_flight):
    upload(client)
    assert uploads_in_flight() == []


def test_upload_accepts_post_as_well(client):
    body, headers = multipart(b"x")
    assert client.simulate_post(UPLOAD, body=body, headers=headers).status_code == 201


def test_share_url_opens_the_page_without_using_the_download(client):
    body = upload(client, b"one time").json
    page = client.simulate_get(body["share_url"].removeprefix("http://falconframework.org"))
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert client.simulate_get(f"{UPLOAD}/{body['token']}").content == b"one time"
