"""The plumbing of the tests' relays and fake servers: a listener on 127.0.0.1 that serves
each connection in a thread of its own, and the two ways a relay ends a connection.

A subclass says what to do with one connection (`serve`); the listener accepts until the
`with` block ends. CuttingRelay, HoldingRelay, Valve and HungRedis are all built on it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class ThreadedListener:
    def __init__(self, receive_buffer: int | None = None):
        self._listener = socket.socket()
        if receive_buffer is not None:
            # Set before listen(): accepted sockets inherit it.
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closing = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def serve(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def start(self):
        self._acceptor.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        # shutdown() wakes the blocked accept(); closing first could let it accept on a
        # reused descriptor number, stealing the next test's connections.
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=10)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(connection,), daemon=True).start()


def pipe(source: socket.socket, target: socket.socket) -> None:
    """Forward `source`'s bytes to `target` until `source` ends, then end `target`'s side."""
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def reset(sock: socket.socket) -> None:
    """Close with a reset (RST), as a dropped link looks to the other end."""
    with contextlib.suppress(OSError):
        # Linger 0: close with a reset, not a polite FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Another thread's recv() holds the socket open (no reset is sent while it does):
        # shutting the reading side down wakes it, so the close below really closes.
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()
