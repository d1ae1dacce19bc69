"""`drop-ops storage migrate`: every live blob copied to the other store, verified, rerunnable.

A data directory of 1,000 drops (some with a password, some half-downloaded) moves to
SeaweedFS; every drop downloads identically afterwards; a run killed with SIGKILL midway
completes when run again (issue 10, acceptance 5).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import signal
import subprocess
import sys

import falcon.testing
import pytest

from drop import crypto
from drop.app import create_app
from drop.db.models import LIVE, Drop, init_database
from drop.storage.local import LocalStorage
from tests.support.common import ROOT, drop_env, wait_until
from tests.support.ops import now, run_cli

PASSWORD = "migrate-me"


@pytest.fixture
def moved(config, s3_store):
    """The settings of the same deployment once DROP_STORAGE=s3."""
    return dataclasses.replace(
        config,
        storage="s3",
        s3_bucket=s3_store.bucket,
        s3_endpoint_url=s3_store.endpoint_url,
        s3_region="us-east-1",
    )


def plant_drops(config, count: int) -> dict[str, tuple[bytes, bool]]:
    """`count` live drops with their blobs on disk: every 5th with a password, every 3rd
    with one of its three downloads used. {token: (content, has a password)}."""
    init_database(config.effective_database_url)
    storage = LocalStorage(config.data_dir)
    password_hash = crypto.hash_password(PASSWORD)
    created = now()
    planted, rows = {}, []
    for number in range(count):
        token = crypto.new_token()
        content = f"drop {number} ".encode() * (number % 7 + 1) + os.urandom(number % 300)
        path = storage.path_for(token)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        protected = number % 5 == 0
        planted[token] = (content, protected)
        rows.append(
            {
                "token": token,
                "filename": f"f{number}.bin",
                "content_type": "application/octet-stream",
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "password_hash": password_hash if protected else None,
                "delete_token_hash": "0" * 64,
                "created_at": created,
                "expires_at": created + datetime.timedelta(days=1),
                "max_downloads": 3,
                "downloads": 1 if number % 3 == 0 else 0,
                "status": LIVE,
            }
        )
    for start in range(0, len(rows), 200):
        Drop.insert_many(rows[start : start + 200]).execute()
    return planted


def assert_every_drop_downloads_identically(settings, planted) -> None:
    client = falcon.testing.TestClient(create_app(settings))
    for token, (content, protected) in planted.items():
        headers = {"X-Drop-Password": PASSWORD} if protected else {}
        got = client.simulate_get(f"/api/v1.0/file/{token}", headers=headers)
        assert got.status_code == 200, (token, got.text)
        assert got.content == content


@pytest.mark.parametrize("backend", ["postgres"])  # 1,000 drops once; the others run on both
def test_a_thousand_drops_move_to_s3_even_after_a_kill_midway(config, moved, s3_store):
    planted = plant_drops(config, 1000)
    env = drop_env(config, **{**s3_store.env(), "DROP_STORAGE": "local"})
    command = [sys.executable, "-m", "drop.cli", "storage", "migrate", "--to", "s3"]
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    assert wait_until(lambda: len(s3_store.object_keys()) >= 100, timeout=120)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = len(s3_store.object_keys())
    assert done_before < 1000  # it really was stopped midway

    again = run_cli(config, "storage", "migrate", "--to", "s3", **s3_store.env())
    assert again.exit_code == 0, again.output
    copied = int(again.output.split(" blobs copied, ")[0].rsplit("\n", 1)[-1])
    assert copied + int(again.output.split(" blobs copied, ")[1].split()[0]) == 1000
    assert copied <= 1000 - done_before + 1  # what the killed run copied is not copied again
    keys = s3_store.object_keys()
    assert sorted(keys) == sorted(f"{token[:2]}/{token}" for token in planted)
    assert s3_store.multipart_uploads() == []
    assert_every_drop_downloads_identically(moved, planted)


def test_blobs_move_back_to_local_and_a_second_run_copies_nothing(config, moved, s3_store):
    planted = plant_drops(config, 30)
    assert run_cli(config, "storage", "migrate", "--to", "s3", **s3_store.env()).exit_code == 0
    for path in (config.data_dir / "blobs").rglob("*"):
        if path.is_file():
            path.unlink()  # what remains is only in the bucket
    back = run_cli(config, "storage", "migrate", "--to", "local", **s3_store.env())
    assert back.exit_code == 0, back.output
    assert "30 blobs copied, 0 already there" in back.output
    rerun = run_cli(config, "storage", "migrate", "--to", "local", **s3_store.env())
    assert "0 blobs copied, 30 already there" in rerun.output
    assert_every_drop_downloads_identically(config, planted)


def test_a_blob_that_does_not_match_its_sha256_is_not_kept(config, s3_store):
    planted = plant_drops(config, 3)
    token = next(iter(planted))
    LocalStorage(config.data_dir).path_for(token).write_bytes(b"tampered" * 3)
    result = run_cli(config, "storage", "migrate", "--to", "s3", **s3_store.env())
    assert result.exit_code == 1
    assert f"copy of {token[:8]} did not match its sha256" in result.output
    assert f"{token[:2]}/{token}" not in s3_store.object_keys()
