"""The free-space floor (DROP_MIN_FREE_BYTES) and a disk that is full.

Uploads are refused with 507 and a reason; downloads keep working; /readyz names storage;
and once a purge frees space, uploads work again. Most tests run real gunicorn, on both
backends, on a small tmpfs the test mounts itself.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import falcon.testing
import pytest
import requests

from drop.app import create_app
from drop.db import migrations
from drop.db.models import open_database
from tests.support.common import UPLOAD, LiveServer, multipart, upload
from tests.support.ops import run_cli
from tests.support.page import page_upload

MIB = 1024 * 1024
DISK_MIB = 48
FLOOR = 16 * MIB
FILE_BYTES = 4 * MIB


def as_root(*command: str) -> None:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run([*prefix, *command], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MiB tmpfs, mounted for this test only."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    as_root("mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount))
    try:
        yield mount
    finally:
        as_root("umount", "--lazy", str(mount))


@pytest.fixture
def disk_config(config, small_disk):
    """The backend under test with its data directory (and an SQLite database) on the disk."""
    moved = dataclasses.replace(config, data_dir=small_disk / "data")
    moved.data_dir.mkdir()
    database = open_database(moved.effective_database_url)
    with database:
        migrations.migrate(database)
    return moved


def test_below_the_floor_the_api_and_the_page_refuse_uploads_and_downloads_go_on(
    config, clock, immediate_huey
):
    made = upload(falcon.testing.TestClient(create_app(config, clock=clock)), b"kept")
    assert made.status_code == 201, made.text
    floor = shutil.disk_usage(config.data_dir).total + 1  # always above what is free
    client = falcon.testing.TestClient(
        create_app(dataclasses.replace(config, min_free_bytes=floor), clock=clock)
    )

    refused = upload(client, b"more")
    assert_insufficient_storage(refused, "DROP_MIN_FREE_BYTES")
    page = page_upload(client, b"more")
    assert page.status_code == 507
    assert "No room for more files right now" in page.text
    assert client.simulate_get("/readyz").json["checks"]["storage"] == "below DROP_MIN_FREE_BYTES"
    assert client.simulate_get(f"{UPLOAD}/{made.json['token']}").content == b"kept"
    assert list((config.data_dir / "tmp").iterdir()) == []


def free(config) -> int:
    return shutil.disk_usage(config.data_dir).free


def chunked(body: bytes, size: int = 64 * 1024):
    """A body without Content-Length: requests sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def put(server, content: bytes, *, send_length: bool = True) -> requests.Response:
    body, headers = multipart(content, filename="filler.bin", max_downloads=2)
    data = body if send_length else chunked(body)
    return requests.put(server.url + UPLOAD, data=data, headers=headers, timeout=60)


def fill(server, *, send_length: bool = True) -> tuple[list[dict], requests.Response]:
    """Upload files until one is refused; the drops made and the refusal."""
    made = []
    for _ in range(2 * DISK_MIB * MIB // FILE_BYTES):
        response = put(server, os.urandom(FILE_BYTES), send_length=send_length)
        if response.status_code != 201:
            return made, response
        made.append(response.json())
    raise AssertionError(f"{len(made)} uploads of {FILE_BYTES} bytes were never refused")


def assert_insufficient_storage(response, reason: str) -> None:
    """A 507 JSON answer with `reason` in its detail (a requests or a Falcon test response)."""
    assert response.status_code == 507, response.text
    body = response.json() if callable(response.json) else response.json
    assert body["error"] == "Insufficient Storage"
    assert reason in body["detail"]


def assert_every_drop_downloads(made: list[dict]) -> None:
    for drop in made:
        response = requests.get(drop["url"], timeout=60)
        assert response.status_code == 200, response.text
        assert len(response.content) == FILE_BYTES


def get(drop: dict) -> requests.Response:
    return requests.get(drop["url"], timeout=30)


def readiness(server) -> requests.Response:
    return requests.get(server.url + "/readyz", timeout=30)


def test_uploads_stop_at_the_free_space_floor_and_resume_after_a_purge(disk_config):
    with LiveServer(disk_config, workers=2, DROP_MIN_FREE_BYTES=FLOOR) as server:
        assert readiness(server).status_code == 200
        made, refused = fill(server)
        assert len(made) >= 4
        assert_insufficient_storage(refused, "DROP_MIN_FREE_BYTES")
        assert free(disk_config) >= FLOOR  # no upload with a known size went below it

        # A chunked body's size is unknown: admitted above the floor, it may end below it.
        more, refused = fill(server, send_length=False)
        assert_insufficient_storage(refused, "DROP_MIN_FREE_BYTES")
        made += more
        assert free(disk_config) < FLOOR
        assert_insufficient_storage(put(server, b"tiny"), "DROP_MIN_FREE_BYTES")
        ready = readiness(server)
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["storage"]
        assert ready.json()["checks"]["storage"] == "below DROP_MIN_FREE_BYTES"
        assert list((disk_config.data_dir / "tmp").iterdir()) == []

        assert_every_drop_downloads(made)
        assert_every_drop_downloads(made)  # max_downloads=2: now every drop is used up
        purged = run_cli(disk_config, "purge", "--yes", "--older-than", "0")
        assert purged.exit_code == 0, purged.output

        assert readiness(server).status_code == 200
        assert put(server, os.urandom(FILE_BYTES)).status_code == 201
    assert "Traceback" not in server.log.read_text()


def on_a_disk_that_fills_up(config, tmp_path) -> LiveServer:
    """gunicorn with no floor, its log and metrics files kept off the small disk.

    prometheus-client's sample files are memory-mapped: a process that touches a new page
    of one on a full disk dies of SIGBUS. The README says to keep them elsewhere.
    """
    server = LiveServer(
        config,
        workers=2,
        DROP_MIN_FREE_BYTES=0,
        # The hourly quota on, as by default: its counters live on the full disk too.
        DROP_UPLOADS_PER_HOUR=100,
        PROMETHEUS_MULTIPROC_DIR=tmp_path / "metrics",
    )
    server.log = tmp_path / "server.log"
    return server


def test_a_full_disk_answers_507_and_downloads_keep_working(disk_config, tmp_path):
    server = on_a_disk_that_fills_up(disk_config, tmp_path)
    with server:
        made, refused = fill(server)
        assert_insufficient_storage(refused, "disk is full")
        more, refused = fill(server, send_length=False)
        assert_insufficient_storage(refused, "disk is full")
        made += more
        assert list((disk_config.data_dir / "tmp").iterdir()) == []
        assert_every_drop_downloads(made)
    assert "Traceback" not in server.log.read_text()


def fill_to_the_last_byte(config) -> Path:
    """Something other than drop takes every byte left (a log, another program)."""
    filler = config.data_dir.parent / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while out.write(b"\0" * 4096):
                pass
        except OSError:  # ENOSPC
            pass
    return filler


def test_a_disk_without_a_byte_left_refuses_uploads_and_uses_up_no_download(disk_config, tmp_path):
    """On PostgreSQL downloads go on; SQLite, on that same disk, cannot even open (507)."""
    server = on_a_disk_that_fills_up(disk_config, tmp_path)
    with server:
        made = [put(server, os.urandom(FILE_BYTES)).json() for _ in range(2)]
        filler = fill_to_the_last_byte(disk_config)

        assert_insufficient_storage(put(server, b"tiny"), "disk is full")
        ready = readiness(server)
        assert ready.status_code == 503
        assert "storage" in ready.json()["failed"]
        answers = {drop["token"]: [get(drop).status_code] for drop in made}
        on_postgres = bool(disk_config.database_url)
        assert all(codes == [200 if on_postgres else 507] for codes in answers.values()), answers
        assert list((disk_config.data_dir / "tmp").iterdir()) == []

        filler.unlink()
        assert readiness(server).status_code == 200
        for drop in made:
            answers[drop["token"]] += [get(drop).status_code for _ in range(3)]
        # max_downloads=2: two 200s each in all, whichever answers came while full.
        assert all(sorted(codes).count(200) == 2 for codes in answers.values()), answers
    assert "Traceback" not in server.log.read_text()
