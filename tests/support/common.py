"""Helpers shared by the tests: multipart bodies, a settable clock, live servers."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from urllib3 import encode_multipart_formdata

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
UPLOAD = "/api/v1.0/file"


class FakeClock:
    """A clock the tests move by hand; starts at the real time."""

    def __init__(self):
        self.now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


def multipart(
    content: bytes = b"hello drop\n",
    filename: str | bytes = "hello.txt",
    content_type: str = "text/plain",
    **fields,
) -> tuple[bytes, dict[str, str]]:
    """A multipart body with a `file` part and text fields, and its Content-Type header."""
    parts = [("file", (filename, content, content_type))]
    parts += [(name, str(value)) for name, value in fields.items()]
    body, header = encode_multipart_formdata(parts)
    return body, {"Content-Type": header}


def upload(client, content: bytes = b"hello drop\n", **kwargs):
    """PUT a file through a falcon TestClient; returns the response."""
    body, headers = multipart(content, **kwargs)
    return client.simulate_put(UPLOAD, body=body, headers=headers)


def gone_then_its_row_deleted(client, delete_row):
    """Use up a one-time drop, ask for it again (410), delete its row with `delete_row(token)`
    and ask a third time: only a cached answer can still say 410 rather than 404.

    Returns the second and third answers.
    """
    token = upload(client).json["token"]
    client.simulate_get(f"/api/v1.0/file/{token}")
    first = client.simulate_get(f"/api/v1.0/file/{token}")
    delete_row(token)
    return first, client.simulate_get(f"/api/v1.0/file/{token}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):  # a worker still booting
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout}s")


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def drop_env(config, **extra) -> dict[str, str]:
    """Environment for a drop process serving `config`."""
    env = dict(os.environ)
    env.update(
        DROP_DATA_DIR=str(config.data_dir),
        DROP_DATABASE_URL=config.effective_database_url,
        DROP_REDIS_URL=config.redis_url or "",
        # No free-space floor unless a test sets one: the suite must not depend on the
        # machine's free disk.
        DROP_MIN_FREE_BYTES="0",
        # No hourly upload quota either: load and race tests upload hundreds of files from
        # 127.0.0.1. The tests of the quota set their own.
        DROP_UPLOADS_PER_HOUR="0",
        DROP_UPLOAD_BYTES_PER_HOUR="0",
    )
    if config.storage == "s3":
        # Credentials come from the environment (boto3's chain): the s3_store fixture's.
        env.update(
            DROP_STORAGE="s3",
            DROP_S3_BUCKET=config.s3_bucket,
            DROP_S3_ENDPOINT_URL=config.s3_endpoint_url or "",
            DROP_S3_REGION=config.s3_region or "",
            DROP_S3_PREFIX=config.s3_prefix,
        )
    env.update({key: str(value) for key, value in extra.items()})
    return env


class LiveServer:
    """Real gunicorn (and optionally a real Huey consumer) serving a config on 127.0.0.1."""

    # Every log a LiveServer wrote: conftest checks each for secrets after its test.
    logs: list[Path] = []

    def __init__(
        self, config, workers: int | None = 2, with_worker: bool = False, gunicorn_args=(), **env
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = drop_env(config, DROP_BIND=f"127.0.0.1:{self.port}", **env)
        self.workers = workers
        self.with_worker = with_worker
        self.gunicorn_args = list(gunicorn_args)
        self.processes: list[subprocess.Popen] = []
        self.log = config.data_dir / f"server-{self.port}.log"
        LiveServer.logs.append(self.log)

    def __enter__(self) -> LiveServer:
        log = open(self.log, "wb")
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "ops" / "gunicorn.conf.py"),
            *(["--workers", str(self.workers)] if self.workers else []),  # None: the conf's
            "drop.wsgi:app",
        ]
        self.processes.append(subprocess.Popen(web, env=self.env, cwd=ROOT, stdout=log, stderr=log))
        if self.with_worker:
            worker = [sys.executable, "-m", "drop.cli", "worker"]
            self.processes.append(
                subprocess.Popen(worker, env=self.env, cwd=ROOT, stdout=log, stderr=log)
            )
        try:
            wait_for_http(self.url + "/api/v1.0/file/x")
        except BaseException:
            self.__exit__()  # a server that never answered must not outlive the test
            raise
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def web_worker_pids(self) -> list[int]:
        master = self.processes[0].pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [int(pid) for pid in children]
