"""The periodic sweep: expiry, blobs nobody needs, abandoned temp files."""

import os
import time

from drop import drops
from drop.models import Drop
from drop.storage.local import LocalStorage
from tests.support import upload


def blob(config, token):
    return config.data_dir / "blobs" / token[:2] / token


def test_sweep_expires_due_drops_and_deletes_their_blobs(client, config, clock):
    soon = upload(client, expires_in=60).json["token"]
    later = upload(client, expires_in=3600).json["token"]
    clock.advance(61)
    report = drops.sweep(LocalStorage(config.data_dir), clock())
    assert report.expired == [soon]
    assert Drop.get(Drop.token == soon).status == "expired"
    assert not blob(config, soon).exists()
    assert Drop.get(Drop.token == later).status == "live"
    assert blob(config, later).exists()


def test_sweep_twice_changes_nothing_more(client, config, clock):
    upload(client, expires_in=60)
    clock.advance(61)
    drops.sweep(LocalStorage(config.data_dir), clock())
    again = drops.sweep(LocalStorage(config.data_dir), clock())
    assert (again.expired, again.blobs_deleted, again.orphans_deleted) == ([], [], [])


def test_sweep_leaves_a_just_downloaded_blob_for_the_grace_period(client, config, clock):
    token = upload(client).json["token"]
    Drop.update(status="downloaded", gone_at=clock()).where(Drop.token == token).execute()
    storage = LocalStorage(config.data_dir)
    assert drops.sweep(storage, clock(), grace_seconds=30).blobs_deleted == []
    clock.advance(31)
    assert drops.sweep(storage, clock(), grace_seconds=30).blobs_deleted == [token]


def test_sweep_removes_old_orphan_blobs_but_not_fresh_ones(config, clock, client):
    storage = LocalStorage(config.data_dir)
    old, fresh = "a" * 32, "b" * 32
    for token in (old, fresh):
        blob(config, token).parent.mkdir(parents=True, exist_ok=True)
        blob(config, token).write_bytes(b"orphan")
    an_hour_ago = time.time() - 3600
    os.utime(blob(config, old), (an_hour_ago, an_hour_ago))
    report = drops.sweep(storage, drops.utcnow())
    assert report.orphans_deleted == [old]
    assert blob(config, fresh).exists()


def test_sweep_removes_stale_temp_files_only(config, client):
    storage = LocalStorage(config.data_dir)
    stale = storage.temp_dir / "stale.part"
    active = storage.temp_dir / "active.part"
    stale.write_bytes(b"x")
    active.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert drops.sweep(storage, drops.utcnow()).temps_deleted == 1
    assert not stale.exists() and active.exists()
