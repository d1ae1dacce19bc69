"""drop-ops backup and restore: a backup taken while uploads run restores into a new data
directory and a new database, and its drops download with their exact bytes."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from urllib.parse import urlsplit

import psycopg2
import pytest
import requests

from drop.ops.backup import copy_blobs
from drop.storage import blob_key
from tests.support.common import LiveServer
from tests.support.ops import run_cli
from tests.support.tus import CHUNK, TUS, UPLOADS

# The background uploader stops after this many uploads even if the backup never ends.
MAX_UPLOADS_DURING_BACKUP = 200


def put(server, content: bytes, **fields) -> dict:
    response = requests.put(
        server.url + "/api/v1.0/file", files={"file": ("f.bin", content)}, data=fields, timeout=30
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def restored(config, tmp_path, request):
    """A config for the restore: a new data dir and, on PostgreSQL, a new, empty database."""
    target = dataclasses.replace(config, data_dir=tmp_path / "restored")
    if not config.database_url:
        return target
    server, name = config.database_url.rsplit("/", 1)
    fresh = f"{name}_restored"
    admin = psycopg2.connect(server + "/postgres")
    admin.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{fresh}"')
    admin.close()
    return dataclasses.replace(target, database_url=f"{server}/{fresh}")


class Uploader(threading.Thread):
    """Uploads one file after another until told to stop (or MAX_UPLOADS_DURING_BACKUP)."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()
        self.made: list[tuple[dict, bytes]] = []
        self.failures: list[str] = []

    def run(self):
        for number in range(MAX_UPLOADS_DURING_BACKUP):
            if self.stop.is_set():
                return
            content = os.urandom(8 * 1024 + number)
            response = requests.put(
                self.server.url + "/api/v1.0/file", files={"file": ("u.bin", content)}, timeout=30
            )
            if response.status_code == 201:
                self.made.append((response.json(), content))
            else:
                self.failures.append(f"{response.status_code} {response.text}")


def test_a_backup_taken_during_uploads_restores_with_the_exact_bytes(config, restored, tmp_path):
    dest = tmp_path / "backup"
    files = {name: os.urandom(size) for name, size in [("a", 1), ("b", 70_000), ("c", 300_000)]}
    with LiveServer(config) as server:
        plain = {name: put(server, content) for name, content in files.items()}
        secret = os.urandom(5000)
        protected = put(server, secret, password="open sesame")
        shared = os.urandom(20_000)
        multi = put(server, shared, max_downloads=3)
        # A first download: the restored drop must remember it, and the server makes its key.
        assert requests.get(multi["url"], timeout=30).content == shared
        unfinished = _start_resumable_upload(server)
        uploader = Uploader(server)
        uploader.start()
        assert _wait_for_first_upload(uploader)
        result = run_cli(config, "backup", str(dest))
        uploader.stop.set()
        uploader.join()
    assert result.exit_code == 0, result.output
    assert not uploader.failures
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["drops"] >= 5 and manifest["blobs"] >= 5
    assert manifest["secret_key"] is True
    assert f"{manifest['blobs']} (" in result.output
    # As if this drop's blob had been deleted between the snapshot and the copy.
    (dest / "blobs" / blob_key(plain["a"]["token"])).unlink()

    restore = run_cli(restored, "restore", str(dest))
    assert restore.exit_code == 0, restore.output
    assert "drops without their blob in the backup: 1 " in restore.output
    migrate = run_cli(restored, "migrate")
    assert migrate.exit_code == 0, migrate.output
    assert "database is up to date" in migrate.output
    assert (restored.data_dir / "secret_key").read_bytes() == (
        config.data_dir / "secret_key"
    ).read_bytes()

    with LiveServer(restored) as server:
        for name in ("b", "c"):
            got = requests.get(_at(server, plain[name]), timeout=30)
            assert got.status_code == 200 and got.content == files[name]
        assert requests.get(_at(server, plain["a"]), timeout=30).status_code == 410
        assert requests.get(_at(server, protected), timeout=30).status_code == 401
        opened = requests.get(
            _at(server, protected), headers={"X-Drop-Password": "open sesame"}, timeout=30
        )
        assert opened.status_code == 200 and opened.content == secret
        # Three downloads allowed, one used before the backup: two left.
        for _ in range(2):
            again = requests.get(_at(server, multi), timeout=30)
            assert again.status_code == 200 and again.content == shared
        assert requests.get(_at(server, multi), timeout=30).status_code == 410
        # Uploads that raced the backup: in the snapshot with every byte, or not at all.
        statuses = set()
        for made, content in uploader.made:
            got = requests.get(_at(server, made), timeout=30)
            statuses.add(got.status_code)
            assert got.status_code in (200, 404), got.text
            if got.status_code == 200:
                assert got.content == content
        assert 200 in statuses  # the first upload finished before the backup began
        # Its bytes are not in the backup: the upload is over, and says so.
        asked = requests.head(f"{server.url}{unfinished}", headers=TUS, timeout=30)
        assert asked.status_code == 410
        resumed = requests.patch(
            f"{server.url}{unfinished}",
            headers={**CHUNK, "Upload-Offset": "4"},
            data=b"rest",
            timeout=30,
        )
        assert resumed.status_code == 410, resumed.text
        # The restored service takes new drops.
        after = put(server, b"after the restore")
        assert requests.get(after["url"], timeout=30).content == b"after the restore"


def _start_resumable_upload(server) -> str:
    """A tus upload of 8 bytes with its first 4 sent; its path."""
    made = requests.post(
        server.url + UPLOADS,
        headers={**CHUNK, "Upload-Length": "8"},
        data=b"half",
        timeout=30,
    )
    assert made.status_code == 201, made.text
    return urlsplit(made.headers["Location"]).path


def _at(server, made: dict) -> str:
    """The drop's download URL on `server` (a restored drop keeps its token, not its host)."""
    return f"{server.url}/api/v1.0/file/{made['token']}"


def _wait_for_first_upload(uploader: Uploader) -> bool:
    for _ in range(300):
        if uploader.made or uploader.failures or not uploader.is_alive():
            break
        threading.Event().wait(0.1)
    return bool(uploader.made)


def test_backup_refuses_a_destination_that_is_not_empty(config, tmp_path):
    dest = tmp_path / "backup"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    result = run_cli(config, "backup", str(dest))
    assert result.exit_code == 1
    assert "is not empty" in result.output
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]


def test_a_backup_that_fails_says_why_and_leaves_nothing(config, tmp_path):
    dest = tmp_path / "backup"
    dest.mkdir()
    # No pg_dump on the PATH; on SQLite, no database where DROP_DATA_DIR says.
    broken = dataclasses.replace(config, data_dir=tmp_path / "elsewhere")
    result = run_cli(broken, "backup", str(dest), PATH=str(tmp_path / "no-tools"))
    assert result.exit_code == 1
    said = "pg_dump was not found" if config.database_url else "no SQLite database at"
    assert said in result.output and "no backup was written" in result.output
    assert list(dest.iterdir()) == []


def test_restore_refuses_a_data_dir_that_is_not_empty(config, restored, tmp_path):
    dest = tmp_path / "backup"
    assert run_cli(config, "backup", str(dest)).exit_code == 0
    restored.data_dir.mkdir()
    (restored.data_dir / "keep.txt").write_text("mine")
    result = run_cli(restored, "restore", str(dest))
    assert result.exit_code == 1
    assert "data directory (DROP_DATA_DIR)" in result.output and "is not empty" in result.output
    assert sorted(p.name for p in restored.data_dir.iterdir()) == ["keep.txt"]


def test_restore_refuses_a_database_that_is_not_empty(config, restored, tmp_path):
    dest = tmp_path / "backup"
    assert run_cli(config, "backup", str(dest)).exit_code == 0
    # The original's database, already migrated; the data dir is new.
    into_used = dataclasses.replace(
        restored, database_url=config.effective_database_url, data_dir=tmp_path / "new"
    )
    result = run_cli(into_used, "restore", str(dest))
    assert result.exit_code == 1
    assert "is not empty" in result.output and "tables" in result.output
    assert not into_used.data_dir.exists()


def test_restore_refuses_a_directory_that_is_not_a_backup(config, restored, tmp_path):
    result = run_cli(restored, "restore", str(tmp_path))
    assert result.exit_code == 1
    assert "is not a complete drop backup" in result.output


def test_a_blob_deleted_before_it_is_copied_is_counted_missing(tmp_path):
    blob_dir, dest = tmp_path / "blobs", tmp_path / "copy"
    kept, gone = "a" * 32, "b" * 32
    (blob_dir / kept[:2]).mkdir(parents=True)
    (blob_dir / blob_key(kept)).write_bytes(b"still here")
    done = copy_blobs([kept, gone], blob_dir, dest, print)
    assert (done.copied, done.bytes, done.missing) == (1, 10, [gone])
    assert (dest / blob_key(kept)).read_bytes() == b"still here"
    assert not (dest / blob_key(gone)).exists()


def test_an_s3_backup_holds_the_database_and_names_the_bucket(config, restored, tmp_path):
    """With DROP_STORAGE=s3 neither command touches the bucket: it is backed up on its own."""
    on_s3 = dataclasses.replace(config, storage="s3", s3_bucket="drops")
    dest = tmp_path / "backup"
    made = run_cli(on_s3, "backup", str(dest))
    assert made.exit_code == 0, made.output
    assert "back them up with the store's own tools" in made.output
    assert not (dest / "blobs").exists()
    assert json.loads((dest / "manifest.json").read_text())["storage"] == "s3"
    put_back = run_cli(
        dataclasses.replace(restored, storage="s3", s3_bucket="drops"), "restore", str(dest)
    )
    assert put_back.exit_code == 0, put_back.output
    assert "back them up with the store's own tools" in put_back.output
    on_local = run_cli(restored, "restore", str(dest))
    assert on_local.exit_code == 1
    assert "made with DROP_STORAGE=s3, but DROP_STORAGE is local here" in on_local.output
