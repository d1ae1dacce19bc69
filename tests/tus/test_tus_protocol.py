"""tus 1.0 at /api/v1.0/uploads, request by request, on SQLite and PostgreSQL, partial
uploads on local disk or in S3: every answer as the protocol says
(tus.io/protocols/resumable-upload, version 1.0.0), never a 5xx."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import time

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import Drop, db
from drop.drops import lifecycle as drops
from drop.refusals import Gone
from drop.storage import open_storage
from drop.tus import open_partial_uploads
from drop.tus import records as tus
from drop.tus.partials import PartialUploads
from tests.support.common import upload
from tests.support.tus import (
    CHUNK,
    TUS,
    UPLOADS,
    create,
    created_path,
    metadata,
    patch,
    path_of,
)


def upload_id(path: str) -> str:
    return path.rsplit("/", 1)[1]


def partial_file(config, path: str):
    return config.data_dir / "uploads" / upload_id(path)


@pytest.fixture
def partials_dir(config, blob_dir):
    """The local directory of partial uploads: a test of its files is about local disk."""
    return config.data_dir / "uploads"


def partials_of(config):
    return open_partial_uploads(config.data_dir, open_storage(config))


def assert_tus(response):
    assert response.status_code < 500, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"


# Discovery


def test_options_advertises_version_extensions_and_maximum_size(client, config):
    answer = client.simulate_options(UPLOADS)  # no Tus-Resumable: OPTIONS needs none
    assert answer.status_code == 204
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert answer.headers["Tus-Extension"] == (
        "creation,creation-with-upload,expiration,termination"
    )
    assert answer.headers["Tus-Max-Size"] == str(config.max_upload_bytes)


# Creation, then the core protocol


def test_creation_answers_201_with_the_upload_url_and_its_expiry(client, clock):
    made = create(client, 11, filename="notes.txt")
    assert_tus(made)
    assert made.status_code == 201
    assert made.headers["Location"].startswith("http://falconframework.org/api/v1.0/uploads/")
    assert len(upload_id(made.headers["Location"])) == 32
    expires = falcon.http_date_to_dt(made.headers["Upload-Expires"]).replace(tzinfo=None)
    assert abs((expires - clock()).total_seconds() - 86400) < 2


def test_head_tells_offset_length_and_metadata_but_never_the_password(client):
    path = created_path(client, 11, filename="notes.txt", password="s3cret")
    head = client.simulate_head(path, headers=TUS)
    assert_tus(head)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == "11"
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-Metadata"] == metadata(filename="notes.txt")
    assert "Upload-Expires" in head.headers


def test_chunks_at_the_right_offsets_make_the_drop_and_answer_its_links(client, partials_stored):
    path = created_path(client, 11, filename="notes.txt", filetype="text/plain")
    first = patch(client, path, 0, b"hello ")
    assert_tus(first)
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == "6"
    assert "Upload-Expires" in first.headers
    last = patch(client, path, 6, b"world")
    assert last.status_code == 204
    assert last.headers["Upload-Offset"] == "11"
    url = last.headers["Drop-Url"]
    token = url.rsplit("/", 1)[1]
    assert last.headers["Drop-Share-Url"] == f"http://falconframework.org/d/{token}"
    drop = Drop.get(Drop.token == token)
    assert (drop.filename, drop.content_type, drop.size) == ("notes.txt", "text/plain", 11)
    assert drop.sha256 == hashlib.sha256(b"hello world").hexdigest()
    download = client.simulate_get(path_of(url))
    assert download.content == b"hello world"
    assert download.headers["Content-Type"] == "text/plain"
    # The partial upload is now the drop's blob: nothing is left behind.
    assert partials_stored.leftovers() == []


def test_get_after_completion_repeats_the_upload_json_of_put(client):
    path = created_path(client, 3, max_downloads="2")
    done = patch(client, path, 0, b"abc")
    answer = client.simulate_get(path)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert set(answer.json) == set(upload(client, b"x").json)
    assert answer.json["url"] == done.headers["Drop-Url"]
    assert answer.json["share_url"] == done.headers["Drop-Share-Url"]
    assert answer.json["delete_token"] == done.headers["Drop-Delete-Token"]
    assert answer.json["max_downloads"] == 2
    # The delete token deletes the drop, as the PUT's does.
    deleted = client.simulate_delete(
        path_of(answer.json["url"]), headers={"X-Delete-Token": answer.json["delete_token"]}
    )
    assert deleted.status_code == 204


def test_get_before_completion_is_409(client):
    path = created_path(client, 3)
    patch(client, path, 0, b"a")
    answer = client.simulate_get(path)
    assert answer.status_code == 409
    assert "1 of 3 bytes" in answer.json["detail"]


def test_the_drop_keeps_its_password_expiry_and_downloads(client, clock):
    path = created_path(client, 4, password="open sesame", expires_in="60", max_downloads="2")
    url = path_of(patch(client, path, 0, b"data").headers["Drop-Url"])
    assert client.simulate_get(url).status_code == 401
    opened = client.simulate_get(url, headers={"X-Drop-Password": "open sesame"})
    assert opened.content == b"data"
    assert Drop.get().password_hash.startswith("scrypt$")
    assert client.simulate_get(url, headers={"X-Drop-Password": "open sesame"}).status_code == 200
    assert client.simulate_get(url, headers={"X-Drop-Password": "open sesame"}).status_code == 410
    assert (Drop.get().expires_at - Drop.get().created_at).total_seconds() == 60


def test_creation_with_upload_stores_the_first_chunk(client):
    made = create(client, 10, body=b"01234")
    assert_tus(made)
    assert made.status_code == 201
    assert made.headers["Upload-Offset"] == "5"
    path = path_of(made.headers["Location"])
    assert client.simulate_head(path, headers=TUS).headers["Upload-Offset"] == "5"


def test_creation_with_the_whole_file_makes_the_drop_at_once(client):
    made = create(client, 5, body=b"whole", filename="w.bin")
    assert made.status_code == 201
    assert made.headers["Upload-Offset"] == "5"
    assert client.simulate_get(path_of(made.headers["Drop-Url"])).content == b"whole"


def test_an_empty_file_is_a_drop_as_soon_as_it_is_created(client):
    made = create(client, 0, filename="empty.txt")
    assert made.status_code == 201
    assert client.simulate_get(path_of(made.headers["Drop-Url"])).content == b""


def test_x_http_method_override_turns_a_post_into_a_patch(client):
    path = created_path(client, 2)
    answer = client.simulate_post(
        path,
        headers={**CHUNK, "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"},
        body=b"ok",
    )
    assert answer.status_code == 204
    assert answer.headers["Upload-Offset"] == "2"


# What the protocol refuses, and how


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0", "garbage"])
def test_creation_with_a_wrong_tus_resumable_is_412_with_tus_version(client, version):
    headers = {"Upload-Length": "5"}
    if version is not None:
        headers["Tus-Resumable"] = version
    answer = client.simulate_post(UPLOADS, headers=headers)
    assert_tus(answer)
    assert answer.status_code == 412
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert tus.TusUpload.select().count() == 0


def test_patch_head_and_delete_need_the_version_too(client):
    path = created_path(client, 5)
    assert client.simulate_head(path).status_code == 412
    assert client.simulate_patch(path, headers={"Upload-Offset": "0"}, body=b"x").status_code == 412
    assert client.simulate_delete(path).status_code == 412
    assert tus.TusUpload.get().status == tus.RECEIVING


@pytest.mark.parametrize("offset", [1, 5, 10**17])
def test_patch_at_the_wrong_offset_is_409_and_changes_nothing(client, partials_stored, offset):
    path = created_path(client, 10)
    patch(client, path, 0, b"ab")
    answer = patch(client, path, offset, b"cd")
    assert_tus(answer)
    assert answer.status_code == 409
    assert "the upload is at 2" in answer.json["detail"]
    assert client.simulate_head(path, headers=TUS).headers["Upload-Offset"] == "2"
    assert partials_stored.small_bytes(upload_id(path)) == b"ab"


@pytest.mark.parametrize(
    "content_type", [None, "application/octet-stream", "text/plain", "multipart/form-data"]
)
def test_patch_with_the_wrong_content_type_is_415(client, content_type):
    path = created_path(client, 4)
    headers = {**TUS, "Upload-Offset": "0"}
    if content_type:
        headers["Content-Type"] = content_type
    answer = client.simulate_patch(path, headers=headers, body=b"data")
    assert_tus(answer)
    assert answer.status_code == 415
    assert "application/offset+octet-stream" in answer.json["detail"]
    assert client.simulate_head(path, headers=TUS).headers["Upload-Offset"] == "0"


def test_creation_with_a_body_of_the_wrong_content_type_is_415(client):
    answer = client.simulate_post(
        UPLOADS,
        headers={**TUS, "Upload-Length": "4", "Content-Type": "text/plain"},
        body=b"data",
    )
    assert answer.status_code == 415
    assert tus.TusUpload.select().count() == 0


def test_a_length_over_the_maximum_is_413_like_any_upload(client, config):
    answer = create(client, config.max_upload_bytes + 1)
    assert_tus(answer)
    assert answer.status_code == 413
    assert answer.json["detail"] == f"files may be at most {config.max_upload_bytes} bytes"
    assert create(client, config.max_upload_bytes).status_code == 201


def test_a_chunk_past_the_upload_length_is_413_and_stores_nothing(client, partials_stored):
    path = created_path(client, 4)
    answer = patch(client, path, 0, b"12345")
    assert_tus(answer)
    assert answer.status_code == 413
    assert client.simulate_head(path, headers=TUS).headers["Upload-Offset"] == "0"
    assert partials_stored.small_bytes(upload_id(path)) == b""


def test_a_terminated_upload_frees_its_bytes_at_once_and_answers_410(client, partials_stored):
    path = created_path(client, 10)
    patch(client, path, 0, b"abc")
    assert partials_stored.exists(upload_id(path))
    deleted = client.simulate_delete(path, headers=TUS)
    assert_tus(deleted)
    assert deleted.status_code == 204
    assert partials_stored.leftovers() == []
    for answer in (
        client.simulate_head(path, headers=TUS),
        patch(client, path, 3, b"def"),
        client.simulate_delete(path, headers=TUS),
        client.simulate_get(path),
    ):
        assert_tus(answer)
        assert answer.status_code == 410


def test_an_expired_upload_is_410_then_swept_to_404(client, config, clock, partials_stored):
    path = created_path(client, 10)
    patch(client, path, 0, b"abc")
    clock.advance(config.upload_expires_in + 1)
    assert client.simulate_head(path, headers=TUS).status_code == 410
    assert patch(client, path, 3, b"def").status_code == 410
    assert tus.sweep_expired(partials_of(config), clock()) == 1
    assert partials_stored.leftovers() == []
    assert client.simulate_head(path, headers=TUS).status_code == 404
    assert patch(client, path, 3, b"def").status_code == 404


def test_the_sweep_deletes_old_bytes_no_receiving_upload_needs(client, config, clock, partials_dir):
    """Left by a crash: bytes whose row never committed, or was swept or completed.
    (In S3: tests/tus/test_tus_s3.py.)"""
    receiving = partial_file(config, created_path(client, 10))
    orphan = partials_dir / ("a" * 32)
    young_orphan = partials_dir / ("b" * 32)
    orphan.write_bytes(b"left behind")
    young_orphan.write_bytes(b"a creation about to commit its row")
    an_hour_ago = time.time() - 3600  # the fake clock starts at the real time
    for old in (receiving, orphan):
        os.utime(old, (an_hour_ago, an_hour_ago))
    assert tus.sweep_orphans(PartialUploads(config.data_dir), clock()) == 1
    assert not orphan.exists()
    assert receiving.exists() and young_orphan.exists()


def test_each_chunk_extends_the_expiry(client, config, clock):
    path = created_path(client, 10)
    clock.advance(config.upload_expires_in - 10)
    moved = patch(client, path, 0, b"abc")
    clock.advance(20)
    assert client.simulate_head(path, headers=TUS).status_code == 200
    assert (
        moved.headers["Upload-Expires"]
        == client.simulate_head(path, headers=TUS).headers["Upload-Expires"]
    )


def test_unknown_and_malformed_upload_ids_are_404(client):
    for path in (f"{UPLOADS}/{'0' * 32}", f"{UPLOADS}/nope", f"{UPLOADS}/{'A' * 32}"):
        head = client.simulate_head(path, headers=TUS)
        assert_tus(head)
        assert head.status_code == 404
        assert patch(client, path, 0, b"x").status_code == 404
        assert client.simulate_delete(path, headers=TUS).status_code == 404
        assert client.simulate_get(path).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Upload-Length
        {"Upload-Length": ""},
        {"Upload-Length": "-1"},
        {"Upload-Length": "1e3"},
        {"Upload-Length": "+5"},
        {"Upload-Length": "0x10"},
        {"Upload-Length": "9" * 40},
        {"Upload-Defer-Length": "1"},
        {"Upload-Length": "5", "Upload-Defer-Length": "1"},
    ],
)
def test_creation_without_a_usable_length_is_400(client, headers):
    answer = client.simulate_post(UPLOADS, headers={**TUS, **headers})
    assert_tus(answer)
    assert answer.status_code == 400, answer.text
    assert tus.TusUpload.select().count() == 0


@pytest.mark.parametrize(
    "value",
    [
        "filename",  # a key without a value is allowed: see the next test
        "filename !!!notbase64",
        "filename Zm9v,filename YmFy",
        ",filename Zm9v",
        "filename Zm9v,",
        "filename Zm9v extra",
        "fil\u00e9name Zm9v",
        "expires_in MA==",  # "0"
        "expires_in LTE=",  # "-1"
        "max_downloads MTAwMDA=",  # "10000"
        "password " + "YWFh" * 400,  # 1200 characters
        "password /w==",  # not UTF-8
        ",".join(f"k{i} YQ==" for i in range(40)),
    ],
)
def test_garbage_metadata_is_400_and_creates_nothing(client, value):
    answer = client.simulate_post(
        UPLOADS, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": value}
    )
    assert_tus(answer)
    if value == "filename":
        assert answer.status_code == 201
        return
    assert answer.status_code == 400, answer.text
    assert answer.json["error"] == "Bad Request"
    assert tus.TusUpload.select().count() == 0


@pytest.mark.parametrize(
    "field, value", [("expires_in", "0"), ("expires_in", "ten"), ("max_downloads", "101")]
)
def test_options_are_refused_with_the_forms_own_message(client, field, value):
    form = upload(client, **{field: value})
    tus_answer = create(client, 5, **{field: value})
    assert (tus_answer.status_code, form.status_code) == (400, 400)
    assert tus_answer.json["detail"] == form.json["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Upload-Offset
        {"Upload-Offset": ""},
        {"Upload-Offset": "-1"},
        {"Upload-Offset": "abc"},
        {"Upload-Offset": "1.5"},
    ],
)
def test_patch_without_a_usable_offset_is_400(client, headers):
    path = created_path(client, 5)
    answer = client.simulate_patch(
        path, headers={**TUS, "Content-Type": CHUNK["Content-Type"], **headers}, body=b"x"
    )
    assert_tus(answer)
    assert answer.status_code == 400


def test_an_unknown_method_override_is_400(client):
    answer = client.simulate_post(UPLOADS, headers={**TUS, "X-HTTP-Method-Override": "BREW"})
    assert_tus(answer)
    assert answer.status_code == 400


def test_a_patch_to_a_complete_upload_is_409(client):
    path = created_path(client, 2)
    patch(client, path, 0, b"ok")
    assert patch(client, path, 2, b"more").status_code == 409
    assert patch(client, path, 0, b"ok").status_code == 409
    assert Drop.select().count() == 1


# Leases: one writer at a time, across processes (the live tests race real ones)


def test_a_patch_while_another_holds_the_upload_is_409(client, clock):
    path = created_path(client, 4)
    upload = tus.find_upload(upload_id(path))
    with tus.Lease.claim(upload, 0, 60, clock):
        answer = patch(client, path, 0, b"data")
        assert answer.status_code == 409
        assert answer.json["detail"] == "another request is writing to this upload"
    assert patch(client, path, 0, b"data").status_code == 204


def test_a_lease_whose_process_died_runs_out(client, clock):
    path = created_path(client, 4)
    tus.Lease.claim(tus.find_upload(upload_id(path)), 0, 60, clock)  # never released
    assert patch(client, path, 0, b"data").status_code == 409
    clock.advance(61)
    assert patch(client, path, 0, b"data").status_code == 204


def test_bytes_past_the_recorded_offset_are_never_part_of_the_drop(client, config, partials_dir):
    """A process that died after writing but before recording its offset left bytes the
    client never saw acknowledged; the next chunk overwrites them. (In S3:
    tests/tus/test_tus_s3.py.)"""
    path = created_path(client, 6)
    patch(client, path, 0, b"abc")
    with open(partial_file(config, path), "ab") as leftover:
        leftover.write(b"GARBAGE")
    done = patch(client, path, 3, b"def")
    assert client.simulate_get(path_of(done.headers["Drop-Url"])).content == b"abcdef"


def test_the_drop_and_the_uploads_completion_commit_together(client, config, clock, blobs):
    """An upload terminated while its last chunk was being stored makes no drop."""
    path = created_path(client, 3)
    upload = tus.find_upload(upload_id(path))
    partials = partials_of(config)
    with tus.Lease.claim(upload, 0, 60, clock) as lease:
        partials.append(upload.storage_key, 0, io.BytesIO(b"abc"), 3)
        temp = partials.finish(upload.storage_key, blobs)
        assert client.simulate_delete(path, headers=TUS).status_code == 204  # meanwhile
        with pytest.raises(Gone):  # the domain's refusal; drop/web answers it 410
            drops.create_drop(
                blobs,
                temp,
                filename="x.txt",
                content_type="text/plain",
                password=None,
                expires_in=60,
                max_downloads=1,
                now=clock(),
                on_insert=lease.completed(clock()),
            )
    assert Drop.select().count() == 0
    assert list(blobs.blob_tokens()) == []


# The hourly quota counts a tus upload as any other


def test_creation_counts_against_the_hourly_uploads(config, clock, immediate_huey):
    client = falcon.testing.TestClient(
        create_app(dataclasses.replace(config, uploads_per_hour=2), clock=clock)
    )
    assert create(client, 1).status_code == 201
    assert upload(client).status_code == 201
    refused = create(client, 1)
    assert_tus(refused)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    if not db.is_closed():
        db.close()
