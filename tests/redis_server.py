"""A Redis server of the test's own, on a free port, that the test may stop and start.

Never the machine's shared Redis: other test runs depend on that one.
"""

from __future__ import annotations

import shutil
import subprocess

import redis

from tests.support import free_port, wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class OwnRedis:
    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port)]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        assert wait_until(lambda: _answers(client)), "redis-server did not start"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self.process = None

    def __enter__(self) -> OwnRedis:
        self.start()
        return self

    def __exit__(self, *exc):
        if self.process is not None:
            self.stop()


def _answers(client: redis.Redis) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False
