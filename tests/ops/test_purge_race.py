"""`drop-ops purge --fix` (the README's nightly cron line) run while uploads keep committing.

Reconciliation lists the disk, then reads rows; an upload that commits in between must not
look like a live drop without its blob (and be revoked), nor its blob like an orphan.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.common import ROOT, UPLOAD, LiveServer, drop_env, multipart
from tests.support.ops import plant_drop

PURGE_RUNS = 4
UPLOADERS = 2
# Drops already stored make each reconciliation take long enough for uploads to commit
# while it runs: the window the old order left open.
STORED_DROPS = 800


def upload_until(url: str, stop: threading.Event, uploaded: dict[str, bytes], name: str):
    session = requests.Session()
    number = 0
    while not stop.is_set():
        content = f"{name} upload {number}\n".encode()
        body, headers = multipart(content)
        response = session.put(url + UPLOAD, data=body, headers=headers, timeout=30)
        assert response.status_code == 201, response.text
        uploaded[response.json()["token"]] = content
        number += 1


def purge_fix(config) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drop.cli", "purge", "--yes", "--fix"],
        env=drop_env(config),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_purge_fix_while_uploads_commit_loses_none(config):
    from drop.db.models import db, init_database

    init_database(config.effective_database_url)
    with db.connection_context():
        for _ in range(STORED_DROPS):
            plant_drop(config)
    uploaded: dict[str, bytes] = {}
    stop = threading.Event()
    with LiveServer(config, workers=2) as server:
        uploaders = [
            threading.Thread(target=upload_until, args=(server.url, stop, uploaded, f"u{n}"))
            for n in range(UPLOADERS)
        ]
        for thread in uploaders:
            thread.start()
        try:
            runs = [purge_fix(config) for _ in range(PURGE_RUNS)]
        finally:
            stop.set()
            for thread in uploaders:
                thread.join(timeout=60)
        for run in runs:
            assert run.returncode == 0, run.stdout + run.stderr
        during = len(uploaded)
        assert during >= PURGE_RUNS, "uploads must have committed while purge ran"

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = pool.map(lambda token: download(server.url, token), uploaded)
            got = dict(zip(uploaded, answers, strict=True))
        lost = [
            (token[:8], status)
            for token, (status, content) in got.items()
            if status != 200 or content != uploaded[token]
        ]
        assert lost == [], f"{len(lost)} of {during} uploads lost: {lost[:5]}"


def download(url: str, token: str) -> tuple[int, bytes]:
    response = requests.get(f"{url}{UPLOAD}/{token}", timeout=30)
    return response.status_code, response.content
