"""drop's gunicorn worker: threads for requests, deadlines for clients that are slow to send.

gunicorn's `gthread` worker holds idle connections in a poller and hands a connection to
a thread once it has something to read. It then trusts the client: a request head sent
one byte a second, or a body that stalls, keeps its thread forever. This worker adds the
deadlines a public server needs (the same ideas as Apache's mod_reqtimeout):

- a new connection waits in the poller, not in a thread, until its first byte arrives
  (at most gunicorn's `keepalive` seconds);
- a request head that arrives in pieces waits in the poller too, until it is whole: a
  thread only takes a request whose line and headers are all there, so clients that
  trickle their headers cost no thread;
- the request line and headers must arrive within `header_timeout` seconds;
- a body may pause for at most `client_timeout` seconds, and must keep an average of
  `min_upload_rate` bytes a second once its first `client_timeout` seconds are over: a
  large upload on a slow but healthy link is bounded by its progress, never by a clock;
- a response may wait at most `client_timeout` seconds for a client that stopped reading.

A client that misses a deadline is dropped; an upload in progress raises `ClientTooSlow`
in the application, which removes its temp file and answers 408.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from dataclasses import dataclass
from functools import partial

# Private names of gunicorn's gthread worker (_DEFER, TConn, the worker's own methods): this
# module is tested on gunicorn 27 only, so pyproject.toml pins it to >=27,<28; a new major
# must be tested here before the pin moves.
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import _DEFER, TConn, ThreadWorker

from drop.config import Config


class ClientTooSlow(NoMoreData):
    """The client sent its request head or body too slowly; its connection is dropped.

    A NoMoreData, so that gunicorn treats it like a client that went away (one debug
    line, no traceback) when it happens while the request head is read.
    """

    def __str__(self) -> str:
        return "client too slow"


@dataclass(frozen=True)
class ClientDeadlines:
    header_timeout: float
    client_timeout: float
    min_upload_rate: int  # bytes a second; 0: no minimum

    @classmethod
    def from_config(cls, config: Config) -> ClientDeadlines:
        return cls(config.header_timeout, config.client_timeout, config.min_upload_rate)


MAX_RECV_BYTES = 256 * 1024

# What a thread looks at before it takes a request: the bytes already received.
HEAD_PEEK_BYTES = 64 * 1024
HEAD_ENDS = (b"\r\n\r\n", b"\n\n")


class Head:
    WHOLE, PARTIAL, CLOSED = "whole", "partial", "closed"


class PacedSocket(socket.socket):
    """A client connection whose reads carry a deadline: the head's, then the body's."""

    deadlines: ClientDeadlines
    timed_out: bool
    head_since: float | None  # when the first byte of the coming request head arrived

    @classmethod
    def adopt(cls, sock: socket.socket, deadlines: ClientDeadlines) -> PacedSocket:
        paced = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        paced.deadlines = deadlines
        paced.timed_out = False
        paced.head_since = None
        paced.expect_head()
        return paced

    def peek_head(self) -> str:
        """Whether the next request's whole head has arrived, without reading it."""
        try:
            data = socket.socket.recv(self, HEAD_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return Head.PARTIAL
        except OSError:
            return Head.CLOSED
        if not data:
            return Head.CLOSED
        if self.head_since is None:
            self.head_since = time.monotonic()
        if len(data) >= HEAD_PEEK_BYTES or any(end in data for end in HEAD_ENDS):
            return Head.WHOLE  # or too large to wait for: gunicorn's limits refuse it
        return Head.PARTIAL

    def head_overdue(self) -> bool:
        started = self.head_since
        return started is not None and time.monotonic() - started > self.deadlines.header_timeout

    def expect_head(self) -> None:
        self._started = time.monotonic()
        self._in_body = False
        self._received = 0

    def expect_body(self) -> None:
        self.head_since = None  # the next request's head is timed from its first byte
        self._started = time.monotonic()
        self._in_body = True
        self._received = 0

    def _deadline(self) -> float:
        limits = self.deadlines
        if not self._in_body:
            return self._started + limits.header_timeout
        if not limits.min_upload_rate:
            return float("inf")
        return self._started + limits.client_timeout + self._received / limits.min_upload_rate

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        # gunicorn asks for up to 1 MiB of a body at once, and gets it whenever the socket
        # holds that much (a busy moment): the memory an upload takes would then depend on
        # timing. A quarter of that keeps it small and the same from one upload to the next.
        bufsize = min(bufsize, MAX_RECV_BYTES)
        remaining = self._deadline() - time.monotonic()
        if remaining <= 0:
            self._give_up()
        self.settimeout(min(remaining, self.deadlines.client_timeout))
        try:
            data = super().recv(bufsize, flags)
        except TimeoutError:
            self._give_up()
        self._received += len(data)
        return data

    def _give_up(self):
        self.timed_out = True
        raise ClientTooSlow() from None

    # Writes: a client that stops reading its response is dropped after client_timeout.
    def sendall(self, data, flags: int = 0) -> None:
        self.settimeout(self.deadlines.client_timeout)
        return super().sendall(data, flags)

    def send(self, data, flags: int = 0) -> int:
        self.settimeout(self.deadlines.client_timeout)
        return super().send(data, flags)

    def sendfile(self, file, offset: int = 0, count: int | None = None) -> int:
        # socket.sendfile() applies the timeout to each wait, not to the whole file.
        self.settimeout(self.deadlines.client_timeout)
        try:
            return super().sendfile(file, offset, count)
        finally:
            # Tell a blob how much of it went out, cut or not, so that drop knows whether a
            # download completed (drop.downloads). socket.sendfile() leaves the file's
            # position just past what it sent, even when the client went away.
            note_sent = getattr(file, "note_sent", None)
            if note_sent is not None:
                note_sent(file.tell() - offset)


class PacedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker with the client deadlines described in this module."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadlines = ClientDeadlines.from_config(Config.from_env())

    def accept(self, listener) -> None:
        # gthread hands a new connection to a thread, which waits up to 5 s for its first
        # byte: a few hundred idle connections would take every thread. Wait in the
        # poller instead, like a kept-alive connection.
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        if not self.cfg.is_ssl:
            client = PacedSocket.adopt(client, self.deadlines)
        conn = TConn(self.cfg, client, address, listener.getsockname())
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )

    def handle(self, conn):
        paced = conn.sock if isinstance(conn.sock, PacedSocket) else None
        if paced is None:
            return super().handle(conn)
        pipelined = conn.parser is not None and conn.parser.unreader.buf.getvalue()
        if not pipelined:
            head = paced.peek_head()
            if head == Head.CLOSED or (head == Head.PARTIAL and paced.head_overdue()):
                return False  # gone, or too slow: closed
            if head == Head.PARTIAL:
                # Back to the poller until more arrives (gthread's own "defer", which
                # also closes it after `keepalive` seconds without a byte).
                return _DEFER
        paced.expect_head()
        return super().handle(conn)

    def handle_request(self, req, conn) -> bool:
        paced = conn.sock if isinstance(conn.sock, PacedSocket) else None
        if paced is not None:
            paced.expect_body()
        keepalive = super().handle_request(req, conn)
        # A body abandoned for being too slow is not drained for the next request.
        return keepalive and not (paced is not None and paced.timed_out)
