"""GET /api/v1.0/file/<token>: passwords, download limits, expiry and the response headers."""

import dataclasses

import falcon.testing
import pytest

from drop.app import create_app
from drop.clock import utcnow
from drop.db.models import Drop, db
from drop.drops import lifecycle as drops
from tests.support.common import upload
from tests.support.cut_downloads import start


def download(client, token, password=None, header=False, path_suffix=""):
    headers, params = {}, {}
    if password is not None:
        if header:
            headers["X-Drop-Password"] = password
        else:
            params["password"] = password
    return client.simulate_get(
        f"/api/v1.0/file/{token}{path_suffix}", headers=headers, params=params
    )


def test_download_returns_the_bytes_with_their_type(client):
    token = upload(client, b"\x00\x01binary", content_type="application/pdf").json["token"]
    response = download(client, token)
    assert response.status_code == 200
    assert response.content == b"\x00\x01binary"
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Length"] == "8"


def test_download_carries_the_security_headers(client):
    token = upload(client, b"<script>alert(1)</script>", content_type="text/html").json["token"]
    headers = download(client, token).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "sandbox"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Disposition"].startswith("attachment;")


def test_second_download_of_a_one_time_drop_is_gone(client):
    token = upload(client).json["token"]
    assert download(client, token).status_code == 200
    second = download(client, token)
    assert second.status_code == 410
    assert second.json["error"] == "Gone"


def test_blob_is_deleted_after_the_last_download(config, clock, immediate_huey, blobs):
    # Without resumes; with them, the blob waits out the window
    # (tests/drops/test_resume_downloads.py).
    no_resumes = dataclasses.replace(config, resume_window=0)
    client = falcon.testing.TestClient(create_app(no_resumes, clock=clock))
    token = upload(client).json["token"]
    download(client, token)
    assert not blobs.exists(token)
    assert Drop.get(Drop.token == token).status == "downloaded"


def test_max_downloads_allows_exactly_that_many(client, blobs):
    token = upload(client, b"thrice", max_downloads=3).json["token"]
    assert [download(client, token).status_code for _ in range(4)] == [200, 200, 200, 410]


def test_blob_stays_until_the_last_permitted_download(client, blobs):
    token = upload(client, max_downloads=2).json["token"]
    download(client, token)
    assert blobs.exists(token)


def test_seed_filename_form_downloads_too(client):
    token = upload(client, b"named").json["token"]
    assert download(client, token, path_suffix="/whatever.txt").content == b"named"


@pytest.mark.parametrize("header", [False, True], ids=["query", "header"])
def test_right_password_downloads(client, header):
    token = upload(client, b"secret", password="pw").json["token"]
    assert download(client, token, "pw", header=header).content == b"secret"


@pytest.mark.parametrize("password", [None, "", "wrong", "PW"])
def test_missing_or_wrong_password_is_401_and_uses_no_download(client, password):
    token = upload(client, password="pw").json["token"]
    response = download(client, token, password)
    assert response.status_code == 401
    assert response.json["error"] == "Unauthorized"
    assert Drop.get(Drop.token == token).downloads == 0


def test_expired_drop_is_410_before_any_sweep(client, clock):
    token = upload(client, expires_in=60).json["token"]
    clock.advance(61)
    assert download(client, token).status_code == 410
    assert Drop.get(Drop.token == token).status == "live"  # no sweep has run


def test_unknown_token_is_404(client):
    response = download(client, "0" * 32)
    assert response.status_code == 404
    assert response.json == {
        "error": "Not Found",
        "detail": "there is no file with this token; check the link",
    }


def test_head_shows_the_file_without_using_a_download(client):
    token = upload(client, b"12345").json["token"]
    response = client.simulate_head(f"/api/v1.0/file/{token}")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "5"
    assert Drop.get(Drop.token == token).downloads == 0


def test_missing_blob_is_gone_and_uses_no_download(client, blobs):
    token = upload(client).json["token"]
    assert blobs.delete(token)
    assert download(client, token).status_code == 410
    assert Drop.get(Drop.token == token).downloads == 0


def test_uploader_deletes_early_with_the_delete_token(client, blobs):
    body = upload(client).json
    path = f"/api/v1.0/file/{body['token']}"
    response = client.simulate_delete(path, headers={"X-Delete-Token": body["delete_token"]})
    assert response.status_code == 204
    assert not blobs.exists(body["token"])
    assert download(client, body["token"]).status_code == 410


@pytest.mark.parametrize("delete_token", [None, "0" * 32, "nonsense"])
def test_delete_with_a_wrong_or_missing_token_is_403(client, delete_token):
    body = upload(client).json
    headers = {"X-Delete-Token": delete_token} if delete_token else {}
    response = client.simulate_delete(f"/api/v1.0/file/{body['token']}", headers=headers)
    assert response.status_code == 403
    assert download(client, body["token"]).status_code == 200


def test_delete_of_an_unknown_drop_is_404(client):
    response = client.simulate_delete("/api/v1.0/file/" + "a" * 32, headers={"X-Delete-Token": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("backend", ["postgres"])  # statements are prepared on PostgreSQL only
def test_a_connection_that_lost_its_prepared_claim_prepares_it_again(client, monkeypatch):
    token = upload(client, max_downloads=3).json["token"]
    assert download(client, token).status_code == 200
    # What a reset connection (DISCARD ALL) leaves: none of its prepared statements.
    db.execute_sql("DEALLOCATE ALL")
    db.close()  # back to the pool, where the next request takes it again
    sent = []
    real = db.obj.execute_sql
    monkeypatch.setattr(
        db.obj,
        "execute_sql",
        lambda sql, params=None: sent.append(sql.split()[0]) or real(sql, params),
    )
    response = start(client, f"/api/v1.0/file/{token}")
    assert (response.status, response.first_chunk()) == (200, b"hello drop\n")
    assert sent == ["EXECUTE", "PREPARE", "EXECUTE"]  # up to the answer
    response.close()
    assert Drop.get(Drop.token == token).downloads == 2


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_claim_inside_a_transaction_runs_unprepared(client, monkeypatch):
    token = upload(client, max_downloads=3).json["token"]
    sent = []
    real = db.obj.execute_sql
    monkeypatch.setattr(
        db.obj,
        "execute_sql",
        lambda sql, params=None: sent.append(sql.split()[0]) or real(sql, params),
    )
    with db.atomic():
        claimed = drops.claim_download(token, utcnow())
    assert claimed.downloads == 1
    assert sent == ["WITH"]  # the claim itself: no PREPARE, whose failure would abort it
    assert Drop.get(Drop.token == token).downloads == 1
