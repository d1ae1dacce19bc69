"""The periodic sweep: expiry and the blobs of gone drops, in bounded batches, found through
the database's indexes; storage is never listed (reconciliation, a rarer task, does that)."""

import dataclasses
import datetime
import os
import time

import falcon.testing
import pytest

from drop import tasks
from drop.app import create_app
from drop.clock import utcnow
from drop.db.models import EXPIRED, LIVE, Drop
from drop.drops import lifecycle as drops
from drop.ops.stats import tally
from drop.storage.local import LocalStorage
from tests.support.common import upload
from tests.support.ops import plant_drop, plant_orphan_blob


class UnlistableStorage(LocalStorage):
    """Local storage whose listing fails, and which records every batch it deletes."""

    def __init__(self, root):
        super().__init__(root)
        self.deleted_batches: list[int] = []

    def blob_tokens(self):
        raise AssertionError("the sweep listed storage")

    def stale_uploads(self, now, older_than_seconds):
        raise AssertionError("the sweep listed temp files")

    def delete_many(self, tokens):
        tokens = list(tokens)
        self.deleted_batches.append(len(tokens))
        return super().delete_many(tokens)


@pytest.fixture
def storage(config):
    return UnlistableStorage(config.data_dir)


def blob(config, token):
    return config.data_dir / "blobs" / token[:2] / token


def test_sweep_expires_due_drops_and_deletes_their_blobs(client, config, clock, storage):
    soon = upload(client, expires_in=60).json["token"]
    later = upload(client, expires_in=3600).json["token"]
    clock.advance(61)
    report = drops.sweep(storage, clock())
    assert (report.expired, report.blobs_deleted) == (1, 1)
    assert Drop.get(Drop.token == soon).status == "expired"
    assert not blob(config, soon).exists()
    assert Drop.get(Drop.token == soon).blob_deleted_at == clock()
    assert Drop.get(Drop.token == later).status == "live"
    assert blob(config, later).exists()


def test_sweep_twice_changes_nothing_more(client, config, clock, storage):
    upload(client, expires_in=60)
    clock.advance(61)
    drops.sweep(storage, clock())
    again = drops.sweep(storage, clock())
    assert (again.expired, again.blobs_deleted) == (0, 0)
    assert storage.deleted_batches == [1]  # the second sweep asked storage nothing


def test_sweep_leaves_a_just_downloaded_blob_for_the_grace_period(client, config, clock, storage):
    token = upload(client).json["token"]
    Drop.update(status="downloaded", gone_at=clock()).where(Drop.token == token).execute()
    assert drops.sweep(storage, clock(), grace_seconds=30).blobs_deleted == 0
    assert blob(config, token).exists()
    clock.advance(31)
    assert drops.sweep(storage, clock(), grace_seconds=30).blobs_deleted == 1
    assert not blob(config, token).exists()


def test_sweep_works_in_batches_of_its_batch_size(app, config, storage):
    due = [
        plant_drop(config, b"x" * 3, age=datetime.timedelta(hours=2), lifetime=HOUR)
        for _ in range(35)
    ]
    kept = plant_drop(config, b"live")
    report = drops.sweep(storage, utcnow(), batch_size=10)
    assert (report.expired, report.blobs_deleted) == (35, 35)
    # 4 expiring statements (10, 10, 10, 5), then 4 batches of blobs.
    assert report.batches == 8
    assert storage.deleted_batches == [10, 10, 10, 5]
    assert {row.status for row in Drop.select().where(Drop.id.in_([d.id for d in due]))} == {
        EXPIRED
    }
    assert not any(blob(config, d.token).exists() for d in due)
    assert blob(config, kept.token).exists()


def test_a_backlog_of_whole_batches_stops_at_the_first_empty_one(app, config, storage):
    for _ in range(20):
        plant_drop(config, b"x", age=datetime.timedelta(hours=2), lifetime=HOUR)
    report = drops.sweep(storage, utcnow(), batch_size=10)
    assert (report.expired, report.blobs_deleted) == (20, 20)
    assert storage.deleted_batches == [10, 10]


def test_the_sweep_never_touches_orphans_or_temp_files(app, config, storage):
    orphan = plant_orphan_blob(config)
    stale = storage.temp_dir / "stale.part"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    drops.sweep(storage, utcnow())  # the listing would raise
    assert blob(config, orphan).exists() and stale.exists()


def test_the_tally_follows_expiry_and_deletion(app, config, storage):
    for _ in range(3):
        plant_drop(config, b"12345", age=datetime.timedelta(hours=2), lifetime=HOUR)
    plant_drop(config, b"xy")
    drops.sweep(storage, utcnow(), batch_size=2)
    assert sorted(tally()) == [(EXPIRED, False, 3, 15), (LIVE, True, 1, 2)]


def test_the_blob_deletion_task_marks_the_blob_deleted(config, clock, immediate_huey):
    # Without resumes; with them, the blob waits out the window
    # (tests/drops/test_resume_downloads.py).
    no_resumes = dataclasses.replace(config, resume_window=0)
    client = falcon.testing.TestClient(create_app(no_resumes, clock=clock))
    token = upload(client).json["token"]
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 200
    row = Drop.get(Drop.token == token)
    assert not blob(config, token).exists()
    assert row.blob_deleted_at is not None  # so no sweep will look at it again


HOUR = datetime.timedelta(hours=1)


def test_reconciliation_removes_old_orphans_and_stale_temps_on_its_own(app, config):
    storage = LocalStorage(config.data_dir)
    old = plant_orphan_blob(config)
    fresh = plant_orphan_blob(config, age_seconds=0)
    known = plant_drop(config, b"kept")
    stale = storage.temp_dir / "stale.part"
    active = storage.temp_dir / "active.part"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"x")
    active.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    found = tasks.reconcile_storage(storage, config.data_dir)
    assert [blob.token for blob in found.orphan_blobs] == [old]
    assert not blob(config, old).exists()
    assert blob(config, fresh).exists() and blob(config, known.token).exists()
    assert not stale.exists() and active.exists()


def test_reconciliation_reports_a_lost_blob_without_ending_the_drop(app, config):
    lost = plant_drop(config, b"gone")
    blob(config, lost.token).unlink()
    found = tasks.reconcile_storage(LocalStorage(config.data_dir), config.data_dir)
    assert found.missing_blobs == [lost.token]
    assert Drop.get_by_id(lost.id).status == LIVE


def test_reconciliation_walks_storage_and_rows_side_by_side(app, config):
    """Blobs and rows interleave in token order: every orphan and every lost blob is found."""
    kept = [plant_drop(config, b"kept") for _ in range(6)]
    lost = [plant_drop(config, b"lost") for _ in range(3)]
    for drop in lost:
        blob(config, drop.token).unlink()
    gone = plant_drop(config, None, status=EXPIRED, gone_ago=HOUR)  # no blob, as it should be
    orphans = sorted(plant_orphan_blob(config) for _ in range(4))
    found = tasks.reconcile_storage(LocalStorage(config.data_dir), config.data_dir)
    assert [blob.token for blob in found.orphan_blobs] == orphans
    assert sorted(found.missing_blobs) == sorted(d.token for d in lost)
    assert not any(blob(config, token).exists() for token in orphans)
    assert all(blob(config, d.token).exists() for d in kept)
    assert Drop.get_by_id(gone.id).status == EXPIRED
