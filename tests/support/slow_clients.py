"""Clients that are slow on purpose: idle connections, trickled request heads and bodies.

Each runs in its own thread against 127.0.0.1, with a hard time limit, and records when
the server gave up on it (closed the connection) and what it answered, if anything.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator

from tests.support.common import UPLOAD

GIVE_UP_AFTER = 120.0  # no test client runs longer than this, whatever the server does


class SlowClient(threading.Thread):
    """Connects to `port`, then does its slow thing until the server closes on it."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.started_at = 0.0
        self.dropped_after: float | None = None  # seconds until the server closed
        self.answer = b""
        self.sock: socket.socket | None = None

    def connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=GIVE_UP_AFTER)
        self.started_at = time.monotonic()

    def run(self) -> None:
        try:
            self.trickle()
            self.read_answer()
        except OSError:
            self._dropped()
        finally:
            self.sock.close()

    def trickle(self) -> None:
        """Send whatever this client sends, slowly; return when done or dropped."""

    def read_answer(self) -> None:
        self.sock.settimeout(GIVE_UP_AFTER - (time.monotonic() - self.started_at))
        while chunk := self.sock.recv(65536):
            self.answer += chunk
        self._dropped()

    def _dropped(self) -> None:
        if self.dropped_after is None:
            self.dropped_after = time.monotonic() - self.started_at

    def send_slowly(self, pieces: Iterator[bytes], interval: float) -> None:
        for piece in pieces:
            if time.monotonic() - self.started_at > GIVE_UP_AFTER:
                return
            readable, _, _ = select.select([self.sock], [], [], 0)
            if readable:  # an answer (a 408) or the close: the server gave up
                return
            self.sock.sendall(piece)
            time.sleep(interval)


class IdleConnection(SlowClient):
    """Connects and never sends a byte."""


class SlowHead(SlowClient):
    """Sends a request head one byte a second (it would take minutes to finish)."""

    def trickle(self) -> None:
        padding = b"X-Pad: " + b"a" * 400 + b"\r\n"
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + padding + b"\r\n"
        self.send_slowly((head[i : i + 1] for i in range(len(head))), 1.0)


class SlowUpload(SlowClient):
    """Sends an upload's head at once, then its 1 MiB body at 1 KiB a second."""

    BODY_BYTES = 1024 * 1024

    def trickle(self) -> None:
        boundary = "slowclientboundary"
        preamble = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="slow.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        epilogue = f"\r\n--{boundary}--\r\n".encode()
        length = len(preamble) + self.BODY_BYTES + len(epilogue)
        head = (
            f"PUT {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + preamble)
        self.send_slowly((b"x" * 1024 for _ in range(self.BODY_BYTES // 1024)), 1.0)


def start_all(clients: list[SlowClient]) -> None:
    for client in clients:
        client.connect()
    for client in clients:
        client.start()


def join_all(clients: list[SlowClient], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for client in clients:
        client.join(max(deadline - time.monotonic(), 0))
