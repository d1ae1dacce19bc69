"""A TCP relay that breaks the first download passing through it, the way a flaky link does.

It forwards everything, records each request head it sees, and cuts the first response
once `cut_after` bytes of its body have passed: it resets both sides (SO_LINGER 0, so the
client gets a connection reset, not a clean end). Later responses pass untouched, so the
client's resume goes through the same address.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
import threading
import time

from tests.support.tcp_listener import ThreadedListener, reset

HEAD_END = b"\r\n\r\n"


class CuttingRelay(ThreadedListener):
    def __init__(self, upstream_port: int, cut_after: int):
        super().__init__()
        self.upstream = ("127.0.0.1", upstream_port)
        self.cut_after = cut_after
        self.request_heads: list[str] = []
        self.cuts = 0
        self._first_response = True
        self._lock = threading.Lock()

    def serve(self, client: socket.socket):
        server = socket.create_connection(self.upstream)
        cut = False
        threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
        head, body_seen = b"", None
        try:
            while chunk := server.recv(65536):
                if body_seen is None:
                    head += chunk
                    if HEAD_END not in head:
                        continue
                    chunk = head
                    body_seen = -(head.index(HEAD_END) + len(HEAD_END))
                    with self._lock:  # a browser may open a connection it never uses
                        cut, self._first_response = self._first_response, False
                if cut and body_seen + len(chunk) >= self.cut_after:
                    client.sendall(chunk[: self.cut_after - body_seen])
                    _wait_until_received(client)
                    self.cuts += 1
                    reset(client)
                    reset(server)
                    return
                client.sendall(chunk)
                body_seen += len(chunk)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            client.close()
            server.close()

    def _requests(self, client: socket.socket, server: socket.socket):
        pending = b""
        try:
            while chunk := client.recv(65536):
                pending += chunk
                while HEAD_END in pending:
                    head, pending = pending.split(HEAD_END, 1)
                    self.request_heads.append(head.decode("latin-1"))
                server.sendall(chunk)
            server.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _wait_until_received(sock: socket.socket, timeout: float = 10.0) -> None:
    """Until the client has acknowledged every byte sent (a reset discards unsent ones)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unacknowledged = struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0" * 4))[0]
        if unacknowledged == 0:
            break
        time.sleep(0.01)
    time.sleep(0.2)  # and the client has had a moment to read them
