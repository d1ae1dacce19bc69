"""A Redis server of the test's own, on a free port, that the test may stop and start;
and a hung one, that accepts connections and never answers.

Never the machine's shared Redis: other test runs depend on that one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import redis

from tests.support.common import free_port, wait_until
from tests.support.tcp_listener import ThreadedListener

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


class HungRedis(ThreadedListener):
    """A TCP server that accepts connections, reads what is sent and never answers.

    It counts connections and bytes, so a test can tell whether anything still tried.
    """

    def __init__(self):
        super().__init__()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.connections = 0
        self.bytes_received = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def close(self) -> None:
        super().close()
        for sock in self._sockets:
            sock.close()

    def touches(self) -> tuple[int, int]:
        with self._lock:
            return self.connections, self.bytes_received

    def serve(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._sockets.append(sock)
        self._swallow(sock)

    def _swallow(self, sock: socket.socket):
        try:
            while data := sock.recv(65536):
                with self._lock:
                    self.bytes_received += len(data)
        except OSError:
            pass
