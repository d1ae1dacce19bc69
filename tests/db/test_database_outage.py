"""PostgreSQL restarted under load: 503s while it is down, no 500, no lost upload, no manual step.

The test runs its own PostgreSQL (tests/support/postgres_server.py) and restarts that one.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import requests

from drop.config import Config
from drop.db import migrations
from drop.db.database import open_database
from tests.conftest import REDIS_URL
from tests.support.common import UPLOAD, LiveServer, multipart
from tests.support.postgres_server import OwnPostgres

LOAD_THREADS = 4


@dataclass
class Answer:
    kind: str
    started: float
    status: int
    body: bytes
    content: bytes = b""


class Load:
    """Threads that upload, download and ask for unknown tokens until stopped."""

    def __init__(self, url: str):
        self.url = url
        self.answers: list[Answer] = []
        self.uploaded: dict[str, bytes] = {}  # url -> content, for every 201
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(LOAD_THREADS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _record(self, kind: str, started: float, response: requests.Response) -> None:
        with self._lock:
            self.answers.append(Answer(kind, started, response.status_code, response.content))

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            content = secrets.token_bytes(2048)
            body, headers = multipart(content, max_downloads=5)
            started = time.monotonic()
            made = session.put(self.url + UPLOAD, data=body, headers=headers, timeout=30)
            self._record("upload", started, made)
            if made.status_code == 201:
                with self._lock:
                    self.uploaded[made.json()["url"]] = content
                started = time.monotonic()
                self._record("download", started, session.get(made.json()["url"], timeout=30))
            started = time.monotonic()
            unknown = f"{self.url}/api/v1.0/file/{secrets.token_hex(16)}"
            self._record("unknown", started, session.get(unknown, timeout=30))
            time.sleep(0.02)


def test_a_postgres_restart_gives_503s_then_every_request_succeeds(tmp_path, redis_client):
    with OwnPostgres() as postgres:
        config = Config(data_dir=tmp_path / "data", database_url=postgres.url, redis_url=REDIS_URL)
        config.data_dir.mkdir()
        with open_database(postgres.url) as database:
            migrations.migrate(database)
        with LiveServer(config, workers=2) as server:
            with Load(server.url) as load:
                time.sleep(2)
                down_at = time.monotonic()
                postgres.stop()
                time.sleep(3)
                postgres.start()
                up_at = time.monotonic()
                time.sleep(4)
            # Every acknowledged upload is still there, byte for byte.
            assert len(load.uploaded) > 20
            for url, content in load.uploaded.items():
                answer = requests.get(url, timeout=10)
                assert answer.status_code == 200
                assert answer.content == content
        log = server.log.read_text()

        statuses = {answer.status for answer in load.answers}
        assert 500 not in statuses
        assert statuses <= {200, 201, 404, 503}, statuses
        during = [a for a in load.answers if down_at + 0.5 < a.started < up_at - 0.5]
        assert during and all(a.status == 503 for a in during if a.kind != "unknown")
        assert b'"error": "Service Unavailable"' in next(a.body for a in during if a.status == 503)
        after = [a for a in load.answers if a.started > up_at]
        assert len(after) > 20
        assert [a for a in after if a.status >= 500] == []
        assert "Traceback" not in log


def test_pooled_connections_killed_by_a_restart_are_replaced_without_an_error():
    with OwnPostgres() as postgres:
        database = open_database(postgres.url, pooled=True)
        for _ in range(3):  # three connections into the pool
            database.connect()
            database.execute_sql("SELECT 1")
            database.close()
        postgres.stop()
        postgres.start()
        database.connect()
        assert database.execute_sql("SELECT 41 + 1").fetchone() == (42,)
        database.close()
        with database.atomic():  # a transaction's BEGIN on a fresh check-out
            assert database.execute_sql("SELECT 1").fetchone() == (1,)
        database.close_all()
