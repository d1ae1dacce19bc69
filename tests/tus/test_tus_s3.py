"""tus uploads on S3 (SeaweedFS), on SQLite and PostgreSQL: each upload a multipart upload
of its own, full parts recorded in `tus_part`, the short tail kept in the bucket between
PATCHes, and everything freed by termination, expiry and the sweeps. The conformance
suite (tests/tus/test_tus_protocol.py) runs on S3 too; two live nodes: test_tus_s3_nodes.py."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import os

import falcon.testing
import peewee
import pytest

from drop.app import create_app
from drop.db.models import Drop, TusPart, db
from drop.drops import lifecycle as drops
from drop.drops import uploads
from drop.ops import purge
from drop.storage import open_storage
from drop.storage.s3 import PART_BYTES
from drop.tus import open_partial_uploads
from drop.tus import records as tus
from tests.support.tus import TUS, created_path, patch, path_of

MIB = 1024 * 1024
# Not a multiple of the part size: most PATCHes leave a tail for the next one.
CHUNK = 5 * MIB + 7


@pytest.fixture
def blob_store() -> str:
    return "s3"


@pytest.fixture
def config(config):
    """The suite's configuration, taking uploads of several parts."""
    return dataclasses.replace(config, max_upload_bytes=64 * MIB)


def upload_id(path: str) -> str:
    return path.rsplit("/", 1)[1]


def tails(s3_store, path: str) -> dict[str, int]:
    """The tail objects of an upload, with their sizes."""
    prefix = f"uploads/{upload_id(path)}/tail-"
    listed = s3_store.s3.list_objects_v2(Bucket=s3_store.bucket, Prefix=prefix)
    return {item["Key"][len(prefix) - 5 :]: item["Size"] for item in listed.get("Contents", [])}


def parts(path: str) -> list[int]:
    query = TusPart.select().where(TusPart.tus_upload_id == upload_id(path))
    return [part.size for part in query.order_by(TusPart.part_number)]


def send_in_chunks(client, path: str, content: bytes, chunk: int, check=None, offset: int = 0):
    """PATCH `content` from `offset` on, `chunk` bytes a request; the last answer."""
    while True:
        answer = patch(client, path, offset, content[offset : offset + chunk])
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["Upload-Offset"])
        if offset == len(content):
            return answer
        if check is not None:
            check(offset)


def test_chunks_that_are_no_multiple_of_a_part_make_the_exact_drop(
    client, s3_store, partials_stored
):
    content = os.urandom(4 * PART_BYTES + 12345)
    path = created_path(client, len(content), filename="big.bin")
    assert len(s3_store.multipart_uploads()) == 1  # begun with the upload

    def check(offset: int) -> None:
        # Whole parts sent, the rest in a tail that starts where they end. The tail it
        # replaced is deleted by the next PATCH, once this offset is surely recorded.
        full = offset // PART_BYTES
        assert parts(path) == [PART_BYTES] * full
        rest = offset - full * PART_BYTES
        found = tails(s3_store, path)
        assert found.pop(f"tail-{full * PART_BYTES}", 0) == rest
        assert len(found) <= 1
        assert all(int(key[len("tail-") :]) < full * PART_BYTES for key in found)

    done = send_in_chunks(client, path, content, CHUNK, check)
    drop = Drop.get(Drop.token == done.headers["Drop-Url"].rsplit("/", 1)[1])
    assert (drop.size, drop.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    # The drop's blob is its own object; nothing of the upload is left.
    assert partials_stored.leftovers() == []
    assert s3_store.multipart_uploads() == []
    assert TusPart.select().count() == 0
    assert s3_store.object_keys() == [f"{drop.token[:2]}/{drop.token}"]
    assert client.simulate_get(path_of(done.headers["Drop-Url"])).content == content
    assert s3_store.object_keys() == []  # its one download completed: gone


def test_a_body_that_ends_on_a_part_boundary_leaves_no_tail(client, s3_store):
    content = os.urandom(2 * PART_BYTES + 10)
    path = created_path(client, len(content))
    assert patch(client, path, 0, content[:PART_BYTES]).status_code == 204
    assert (parts(path), tails(s3_store, path)) == ([PART_BYTES], {})
    assert patch(client, path, PART_BYTES, content[PART_BYTES:-10]).status_code == 204
    done = patch(client, path, 2 * PART_BYTES, content[-10:])  # a last part of 10 bytes
    assert client.simulate_get(path_of(done.headers["Drop-Url"])).content == content


def test_termination_aborts_the_multipart_upload_and_removes_the_tail(
    client, s3_store, partials_stored
):
    path = created_path(client, 3 * PART_BYTES)
    assert patch(client, path, 0, os.urandom(PART_BYTES + MIB)).status_code == 204
    assert len(s3_store.multipart_uploads()) == 1 and tails(s3_store, path)
    assert client.simulate_delete(path, headers=TUS).status_code == 204
    assert s3_store.multipart_uploads() == []
    assert partials_stored.leftovers() == []
    assert TusPart.select().count() == 0


def test_an_expired_upload_is_freed_by_the_sweep(client, config, clock, s3_store):
    path = created_path(client, 3 * PART_BYTES)
    assert patch(client, path, 0, os.urandom(PART_BYTES + MIB)).status_code == 204
    clock.advance(config.upload_expires_in + 1)
    partials = open_partial_uploads(config.data_dir, open_storage(config))
    assert tus.sweep_expired(partials, clock()) == 1
    assert s3_store.multipart_uploads() == []
    assert s3_store.object_keys() == []
    assert TusPart.select().count() == 0


def test_chunks_keep_an_upload_alive_no_longer_than_the_bucket_keeps_its_multipart_upload(
    client, config, clock, s3_store
):
    # drop-ops check --fix makes the bucket abort multipart uploads 7 days after they began:
    # an upload that chunks keep alive lapses a day before that, as tus says, not by surprise.
    assert config.upload_expires_in == 24 * 3600
    path = created_path(client, 3 * PART_BYTES)
    created = clock()
    lapses = created + datetime.timedelta(days=6)
    offset, expires = 0, []
    for _ in range(6):
        clock.advance(config.upload_expires_in - 60)  # each chunk just in time
        answer = patch(client, path, offset, os.urandom(1024))
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["Upload-Offset"])
        expires.append(answer.headers["Upload-Expires"])
    first_chunk = created + datetime.timedelta(seconds=config.upload_expires_in - 60)
    assert expires[0] == falcon.dt_to_http(first_chunk + datetime.timedelta(days=1))
    # The fifth chunk still moves the expiry a day on; the sixth only to the upload's end.
    fifth_chunk = created + 5 * datetime.timedelta(seconds=config.upload_expires_in - 60)
    assert expires[4] == falcon.dt_to_http(fifth_chunk + datetime.timedelta(days=1))
    assert expires[5] == falcon.dt_to_http(lapses)
    clock.advance((lapses - clock.now).total_seconds() + 1)
    assert client.simulate_head(path, headers=TUS).status_code == 410
    partials = open_partial_uploads(config.data_dir, open_storage(config))
    assert tus.sweep_expired(partials, clock()) == 1
    assert s3_store.multipart_uploads() == []


def test_reconciliation_leaves_a_live_upload_alone_but_aborts_one_whose_row_is_gone(
    client, config, clock, s3_store
):
    path = created_path(client, 3 * PART_BYTES)
    assert patch(client, path, 0, os.urandom(PART_BYTES + MIB)).status_code == 204
    storage = open_storage(config)
    # Days later, still receiving (its expiry is the sweep's business, not the store's).
    later = clock() + datetime.timedelta(days=30)
    assert purge.reconcile(storage, later).stale_temps == []
    assert len(s3_store.multipart_uploads()) == 1
    # A crash lost the row between its deletion and the bytes': now it is stale.
    tus.TusUpload.delete().execute()
    found = purge.reconcile(storage, later)
    assert len(found.stale_temps) == 1
    purge.tidy(storage, found, later)
    assert s3_store.multipart_uploads() == []


def test_the_orphan_sweep_deletes_bucket_bytes_no_receiving_upload_needs(
    client, config, clock, s3_store
):
    receiving = created_path(client, 3 * PART_BYTES)
    assert patch(client, receiving, 0, b"kept").status_code == 204
    lost = created_path(client, 3 * PART_BYTES)
    assert patch(client, lost, 0, b"lost").status_code == 204
    tus.TusUpload.delete().where(tus.TusUpload.id == upload_id(lost)).execute()  # a crash
    s3_store.s3.put_object(Bucket=s3_store.bucket, Key=f"uploads/{'a' * 32}/tail-0", Body=b"x")
    # A part row recorded by a chunk still sending when its upload was terminated.
    TusPart.create(tus_upload_id="b" * 32, part_number=1, etag='"x"', size=PART_BYTES)
    partials = open_partial_uploads(config.data_dir, open_storage(config))
    # Nothing young in the bucket is touched: a creation may be about to commit its row.
    assert tus.sweep_orphans(partials, clock()) == 1
    assert TusPart.select().count() == 0
    later = clock() + datetime.timedelta(hours=2)
    assert tus.sweep_orphans(partials, later) == 2
    assert [u["Key"] for u in s3_store.multipart_uploads()] == [
        f"uploads/{upload_id(receiving)}/data"
    ]
    assert s3_store.object_keys() == [f"uploads/{upload_id(receiving)}/tail-0"]


def test_parts_and_a_tail_never_acknowledged_are_never_part_of_the_drop(client, config):
    """A node that died after sending parts and a tail but before recording its offset;
    the client sends the chunk again (other bytes, even) from the acknowledged offset."""
    content = os.urandom(3 * PART_BYTES)
    path = created_path(client, len(content))
    assert patch(client, path, 0, content[: MIB + 5]).status_code == 204
    upload = tus.find_upload(upload_id(path))
    partials = open_partial_uploads(config.data_dir, open_storage(config))
    garbage = io.BytesIO(os.urandom(PART_BYTES + 3 * MIB))
    partials.append(upload.storage_key, MIB + 5, garbage, len(content))  # never recorded
    assert len(parts(path)) == 1
    done = send_in_chunks(client, path, content, CHUNK, offset=MIB + 5)
    assert client.simulate_get(path_of(done.headers["Drop-Url"])).content == content


def test_a_failing_store_is_503_and_the_upload_resumes_from_the_last_offset(
    config, clock, immediate_huey, monkeypatch, s3_store
):
    content = os.urandom(PART_BYTES + 3 * MIB)
    good = falcon.testing.TestClient(create_app(config, clock=clock))
    path = created_path(good, len(content))
    assert patch(good, path, 0, content[: 2 * MIB]).status_code == 204
    # Another node whose store refuses it (a wrong key: every request is refused).
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    refused = falcon.testing.TestClient(create_app(config, clock=clock))
    failed = patch(refused, path, 2 * MIB, content[2 * MIB :])
    assert failed.status_code == 503, failed.text
    assert failed.headers["Tus-Resumable"] == "1.0.0"
    head = good.simulate_head(path, headers=TUS)
    assert head.headers["Upload-Offset"] == str(2 * MIB)
    done = patch(good, path, 2 * MIB, content[2 * MIB :])
    assert done.status_code == 204, done.text
    assert good.simulate_get(path_of(done.headers["Drop-Url"])).content == content
    if not db.is_closed():
        db.close()


def test_a_drop_row_that_cannot_be_committed_is_503_and_the_retry_completes(
    client, monkeypatch, s3_store
):
    content = os.urandom(PART_BYTES + MIB)
    path = created_path(client, len(content))
    assert patch(client, path, 0, content[:PART_BYTES]).status_code == 204
    real_create_drop = drops.create_drop

    def database_gone_once(*args, **kwargs):
        monkeypatch.setattr(uploads.drops, "create_drop", real_create_drop)
        raise peewee.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(uploads.drops, "create_drop", database_gone_once)
    failed = patch(client, path, PART_BYTES, content[PART_BYTES:])
    assert failed.status_code == 503, failed.text
    # Not acknowledged: the client sends the last chunk again, and it completes.
    assert client.simulate_head(path, headers=TUS).headers["Upload-Offset"] == str(PART_BYTES)
    done = patch(client, path, PART_BYTES, content[PART_BYTES:])
    assert done.status_code == 204, done.text
    assert Drop.select().count() == 1
    assert len(s3_store.object_keys()) == 1  # the blob alone
    assert client.simulate_get(path_of(done.headers["Drop-Url"])).content == content


def test_the_nodes_disk_floor_does_not_apply_to_bytes_bound_for_s3(config, clock, immediate_huey):
    floored = dataclasses.replace(config, min_free_bytes=2**62)  # more than any disk
    client = falcon.testing.TestClient(create_app(floored, clock=clock))
    path = created_path(client, 2 * MIB)
    done = patch(client, path, 0, b"x" * 2 * MIB)
    assert done.status_code == 204, done.text
    if not db.is_closed():
        db.close()
