"""The Procfile runs a working single-machine drop under honcho: web and worker."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import requests

from drop.config import Config
from tests.support.common import (
    ROOT,
    UPLOAD,
    VENV_BIN,
    drop_env,
    free_port,
    multipart,
    wait_for_http,
    wait_until,
)


@pytest.fixture
def embedded(tmp_path) -> Config:
    """The embedded default: SQLite and SQLite-backed Huey, nothing else to run."""
    return Config(data_dir=tmp_path / "data")


def test_honcho_brings_up_web_and_worker(embedded, tmp_path):
    port = free_port()
    env = drop_env(
        embedded, DROP_BIND=f"127.0.0.1:{port}", DROP_WEB_WORKERS=2, DROP_RESUME_WINDOW=1
    )
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    migrate = subprocess.run(
        ["drop-ops", "migrate"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr

    with open(tmp_path / "honcho.log", "wb") as log:
        honcho = subprocess.Popen(
            [str(VENV_BIN / "honcho"), "start", "-f", str(ROOT / "Procfile")],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the test can stop all of it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/healthz")
        body, headers = multipart(b"through the Procfile")
        made = requests.put(url + UPLOAD, data=body, headers=headers, timeout=10)
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        got = requests.get(made.json()["url"], timeout=10)
        assert got.content == b"through the Procfile"
        # Only the worker process deletes blobs: its work shows it is up.
        blob = embedded.data_dir / "blobs" / token[:2] / token
        assert wait_until(lambda: not blob.exists()), (tmp_path / "honcho.log").read_text()
        metrics = requests.get(url + "/metrics", timeout=10).text
        assert "drop_uploads_total 1.0" in metrics
        assert "drop_downloads_total 1.0" in metrics
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        try:
            honcho.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
    output = (tmp_path / "honcho.log").read_text()
    assert "web.1" in output and "worker.1" in output
