"""Blobs in S3 (SeaweedFS): multipart uploads, their reconciliation, a store that fails.

The API behaviour itself runs against S3 in the S3_SUITE modules (tests/conftest.py);
these are the parts only an object store has.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drop.app import create_app
from drop.clock import utcnow
from drop.config import DAY
from drop.db.models import Drop, MultipartUpload
from drop.drops import lifecycle as drops
from drop.ops import purge
from drop.ops.checks import lifecycle_expire_days
from drop.protection import api_tokens
from drop.runtime.heartbeat import write_heartbeat
from drop.storage import open_storage
from drop.storage.s3 import PART_BYTES
from tests.protection.test_scans import run_scan, scanning_app
from tests.support.clamd_server import MALWARE
from tests.support.common import UPLOAD, free_port, upload
from tests.support.ops import now, run_cli
from tests.support.seaweedfs import SECRET_KEY

MIB = 1024 * 1024


@pytest.fixture
def blob_store() -> str:
    return "s3"


@pytest.fixture
def big_config(config):
    # No resume window: the last download's object is deleted once it has been sent.
    return dataclasses.replace(config, max_upload_bytes=64 * MIB, resume_window=0)


@pytest.fixture
def big_client(big_config, clock, immediate_huey):
    import falcon.testing

    return falcon.testing.TestClient(create_app(big_config, clock=clock))


def test_a_file_of_several_parts_is_stored_whole_with_its_hash(big_client, s3_store):
    content = os.urandom(2 * PART_BYTES + 12345)
    created = big_client.simulate_put(UPLOAD, **multipart_kwargs(content))
    assert created.status_code == 201, created.text
    token = created.json["token"]
    assert s3_store.object_keys() == [f"{token[:2]}/{token}"]
    assert s3_store.multipart_uploads() == []
    assert MultipartUpload.select().count() == 0  # the in-flight row ended with the upload
    row = Drop.get(Drop.token == token)
    assert (row.size, row.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert big_client.simulate_get(f"/api/v1.0/file/{token}").content == content
    assert s3_store.object_keys() == []  # the one download was the last


def test_an_upload_over_the_limit_aborts_its_multipart_upload(config, clock, s3_store):
    import falcon.testing

    small = dataclasses.replace(config, max_upload_bytes=PART_BYTES + 1)
    client = falcon.testing.TestClient(create_app(small, clock=clock))
    refused = client.simulate_put(UPLOAD, **multipart_kwargs(os.urandom(2 * PART_BYTES)))
    assert refused.status_code == 413
    assert s3_store.multipart_uploads() == []
    assert s3_store.object_keys() == []
    assert MultipartUpload.select().count() == 0
    assert Drop.select().count() == 0


def test_reconciliation_aborts_a_multipart_upload_whose_node_died(config, clock, s3_store):
    storage = open_storage(config)
    key = storage.key("c" * 32)
    started = s3_store.s3.create_multipart_upload(Bucket=s3_store.bucket, Key=key)
    # What a node killed mid-upload leaves: the upload in the store, its row here.
    MultipartUpload.create(
        upload_id=started["UploadId"], key=key, started_at=clock(), touched_at=clock()
    )
    assert reconcile_and_tidy(storage, clock()).stale_temps == []  # it may still be running
    assert len(s3_store.multipart_uploads()) == 1
    clock.advance(drops.STALE_TEMP_SECONDS + 60)
    assert len(reconcile_and_tidy(storage, clock()).stale_temps) == 1
    assert s3_store.multipart_uploads() == []
    assert MultipartUpload.select().count() == 0


def reconcile_and_tidy(storage, at):
    found = purge.reconcile(storage, at)
    purge.tidy(storage, found, at)
    return found


def test_the_sweep_deletes_blobs_of_gone_drops_in_one_batch_without_listing_the_bucket(
    client, config, clock, s3_store, monkeypatch
):
    for n in (1, 2, 3):
        upload(client, b"x" * n)
    Drop.update(status="expired", gone_at=clock()).execute()
    storage = open_storage(config)
    batches = []
    real_delete_many = storage.delete_many

    def delete_many(tokens):
        tokens = list(tokens)
        batches.append(len(tokens))
        return real_delete_many(tokens)

    def listed(*args):
        raise AssertionError("the sweep listed the bucket")

    monkeypatch.setattr(storage, "delete_many", delete_many)
    monkeypatch.setattr(storage, "blob_tokens", listed)
    monkeypatch.setattr(storage, "stale_uploads", listed)
    assert drops.sweep(storage, clock()).blobs_deleted == 3
    assert batches == [3]  # one DeleteObjects request
    assert s3_store.object_keys() == []


def test_reconciliation_walks_the_bucket_in_token_order(client, config, s3_store):
    tokens = [upload(client, b"x").json["token"] for _ in range(5)]
    storage = open_storage(config)
    s3_store.s3.put_object(Bucket=s3_store.bucket, Key="not-a-blob.txt", Body=b"x")
    assert [blob.token for blob in storage.blob_tokens()] == sorted(tokens)
    assert purge.reconcile(storage, utcnow()).clean


@pytest.fixture
def down_client(config, clock, immediate_huey):
    """The app pointed at an object store that is not there (nothing listens on the port)."""
    import falcon.testing

    gone = dataclasses.replace(config, s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    return falcon.testing.TestClient(create_app(gone, clock=clock))


def test_a_store_that_is_down_answers_uploads_503_with_retry_after(down_client):
    response = upload(down_client)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json["error"]
    assert Drop.select().count() == 0


def test_a_store_that_is_down_answers_downloads_503(client, down_client):
    token = upload(client).json["token"]
    assert down_client.simulate_get(f"/api/v1.0/file/{token}").status_code == 503
    assert Drop.get(Drop.token == token).downloads == 0  # no download used up


def test_readyz_names_a_store_that_is_down(down_client, client):
    assert client.simulate_get("/readyz").json["checks"]["storage"] == "ok"
    ready = down_client.simulate_get("/readyz")
    assert ready.status_code == 503
    assert ready.json["failed"] == ["storage"]


def test_a_wrong_secret_key_fails_the_check_in_one_line_naming_the_store(config, s3_store):
    write_heartbeat(config.data_dir, now())
    good = run_cli(config, "check", DROP_MIN_FREE_BYTES="1")
    assert good.exit_code == 0, good.output
    bad = run_cli(config, "check", AWS_SECRET_ACCESS_KEY="not-" + SECRET_KEY)
    assert bad.exit_code == 1, bad.output
    failed = [line for line in bad.output.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1, bad.output
    assert f"s3://{s3_store.bucket}/ at {s3_store.endpoint_url}" in failed[0]
    assert "SignatureDoesNotMatch" in failed[0] or "AccessDenied" in failed[0]
    assert "not-" + SECRET_KEY not in bad.output


def test_metrics_time_each_request_to_the_store(client):
    before = {op: storage_requests(client, op) for op in ("put_object", "get_object")}
    token = upload(client).json["token"]
    client.simulate_get(f"/api/v1.0/file/{token}")
    for operation, count in before.items():
        assert storage_requests(client, operation) > count


def multipart_kwargs(content: bytes) -> dict:
    from tests.support.common import multipart

    body, headers = multipart(content, filename="big.bin", content_type="application/octet-stream")
    return {"body": body, "headers": headers}


def storage_requests(client, operation: str) -> float:
    """How many requests to the store /metrics has timed for `operation`."""
    text = client.simulate_get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "drop_storage_request_duration_seconds_count"
                and sample.labels.get("operation") == operation
            ):
                return sample.value
    return 0.0


def test_presigned_redirect_mode_sends_the_client_to_the_store(config, clock, immediate_huey):
    import falcon.testing
    import requests

    redirecting = dataclasses.replace(config, s3_redirect="presigned")
    client = falcon.testing.TestClient(create_app(redirecting, clock=clock))
    token = upload(client, b"from the store itself", filename="r.txt", max_downloads=2).json[
        "token"
    ]
    answer = client.simulate_get(f"/api/v1.0/file/{token}")
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=60" in location
    fetched = requests.get(location, timeout=10)
    assert fetched.content == b"from the store itself"
    assert fetched.headers["Content-Disposition"].startswith("attachment")
    assert Drop.get(Drop.token == token).downloads == 1


def test_check_fix_sets_the_buckets_lifecycle_and_keeps_other_rules(client, config, s3_store):
    write_heartbeat(config.data_dir, now())
    others = {
        "ID": "someone-elses",
        "Status": "Enabled",
        "Filter": {"Prefix": "backups/"},
        "Expiration": {"Days": 400},
    }
    s3_store.s3.put_bucket_lifecycle_configuration(
        Bucket=s3_store.bucket, LifecycleConfiguration={"Rules": [others]}
    )
    api_tokens.issue("long-lived", now=now(), max_expires_in=30 * DAY)
    result = run_cli(config, "check", "--fix", DROP_MIN_FREE_BYTES="1")
    assert result.exit_code == 0, result.output
    # 30 days (the token's limit) + the hour's resume window, rounded up, + a day to spare.
    assert "objects expired after 32 days" in result.output
    rules = {
        rule["ID"]: rule
        for rule in s3_store.s3.get_bucket_lifecycle_configuration(Bucket=s3_store.bucket)["Rules"]
    }
    assert rules["someone-elses"]["Expiration"] == {"Days": 400}
    abort = rules["drop:abort-incomplete-uploads"]
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rules["drop:expire-objects"]["Expiration"] == {"Days": 32}
    # Run again: the same two rules, not two more.
    assert run_cli(config, "check", "--fix", DROP_MIN_FREE_BYTES="1").exit_code == 0
    again = s3_store.s3.get_bucket_lifecycle_configuration(Bucket=s3_store.bucket)["Rules"]
    assert len(again) == 3


def test_without_fix_check_leaves_the_lifecycle_alone(config, s3_store):
    write_heartbeat(config.data_dir, now())
    assert run_cli(config, "check", DROP_MIN_FREE_BYTES="1").exit_code == 0
    assert open_storage(config).current_lifecycle() == []


def test_a_scan_hit_on_s3_moves_the_object_under_quarantine(
    config, clock, clamd, immediate_huey, s3_store
):
    queued: list[str] = []
    config, client = scanning_app(config, clock, queued, clamd_socket=clamd.socket_path)
    token = upload(client, MALWARE).json["token"]
    # The scan runs as the worker's task does: the bucket comes from the task's settings.
    assert run_scan(config, token, clock).result == "infected"
    assert s3_store.object_keys() == [f"quarantine/{token}"]
    kept = s3_store.s3.get_object(Bucket=s3_store.bucket, Key=f"quarantine/{token}")
    assert kept["Body"].read() == MALWARE
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 451
    # Reconciliation sees no blob there: not an orphan to delete.
    assert purge.reconcile(open_storage(config), utcnow()).orphan_blobs == []


def test_a_scan_hit_on_s3_with_delete_removes_the_object(
    config, clock, clamd, immediate_huey, s3_store
):
    queued: list[str] = []
    config, client = scanning_app(
        config, clock, queued, clamd_socket=clamd.socket_path, scan_quarantine="delete"
    )
    token = upload(client, MALWARE).json["token"]
    assert run_scan(config, token, clock).result == "infected"
    assert s3_store.object_keys() == []


def test_an_operators_uncounted_download_streams_the_object(config, clock, immediate_huey):
    import falcon.testing

    from tests.ops.test_ops_dashboard import ADMIN_TOKEN, session_of
    from tests.ops.test_ops_edits import post

    ops = falcon.testing.TestClient(
        create_app(dataclasses.replace(config, admin_token=ADMIN_TOKEN), clock=clock)
    )
    token = upload(ops, b"%PDF suspicious bytes", filename="invoice.pdf").json["token"]
    drop = Drop.get(Drop.token == token)
    response = post(ops, session_of(ops), f"/ops/drops/{drop.id}/download")
    assert response.status_code == 200
    assert response.content == b"%PDF suspicious bytes"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert Drop.get(Drop.token == token).downloads == 0


def test_a_finished_tus_upload_is_copied_into_the_bucket(client, config, s3_store):
    from tests.support.tus import created_path, patch, path_of

    content = os.urandom(100_000)
    path = created_path(client, len(content), filename=b"big.bin")
    assert patch(client, path, 0, content[:60_000]).status_code == 204
    # The partial upload is in the bucket (its tail, shorter than a part), not on the disk.
    upload_id = path.rsplit("/", 1)[-1]
    assert s3_store.object_keys() == [f"uploads/{upload_id}/tail-0"]
    assert not list((config.data_dir / "uploads").glob("*"))
    done = patch(client, path, 60_000, content[60_000:])
    assert done.status_code == 204
    token = path_of(done.headers["Drop-Url"]).rsplit("/", 1)[-1]
    assert s3_store.object_keys() == [f"{token[:2]}/{token}"]
    row = Drop.get(Drop.token == token)
    assert row.sha256 == hashlib.sha256(content).hexdigest()
    assert not list((config.data_dir / "tmp").glob("*"))  # the staged link is gone
    assert client.simulate_get(path_of(done.headers["Drop-Url"])).content == content


def test_objects_outlive_the_longest_resumable_upload_whatever_drops_may_live(config):
    # A tus upload's tail object lives as long as the upload (up to 6 days on S3).
    short_lived = dataclasses.replace(config, max_expires_in=3600, resume_window=0)
    assert lifecycle_expire_days(short_lived, None) == 7
