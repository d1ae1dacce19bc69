"""A client for clamd, ClamAV's daemon: INSTREAM scans of a stream, and PING.

The protocol is small enough to speak here (the PyPI clients are unmaintained): a
command `zINSTREAM\\0`, then the data in chunks, each preceded by its length as 4 bytes
big-endian, then a zero length; clamd answers one NUL-terminated line,
`stream: OK`, `stream: <signature> FOUND` or `<reason> ERROR`. clamd closes the
connection once a stream passes its StreamMaxLength, answering
`INSTREAM size limit exceeded. ERROR`.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import BinaryIO

from drop.config import Config, parse_host_port

# Read from the blob and sent in pieces this large: one file's scan holds one of them.
CHUNK_BYTES = 256 * 1024
# clamd's answers are one short line; anything longer is not clamd.
MAX_ANSWER_BYTES = 4096
PING_TIMEOUT_SECONDS = 2
SIZE_LIMIT_ANSWER = "INSTREAM size limit exceeded"


class ScannerUnavailable(Exception):
    """clamd could not be reached, did not answer in time, or answered with an error."""


class ScanTooLarge(Exception):
    """clamd refused the stream as longer than its StreamMaxLength."""


@dataclass(frozen=True)
class Verdict:
    """What clamd said of one file: clean, or the name of the signature it matched."""

    signature: str | None = None

    @property
    def infected(self) -> bool:
        return self.signature is not None


class Clamd:
    """Talks to one clamd, over a unix socket or TCP; one connection per command."""

    def __init__(self, *, socket_path: str | None = None, host: str | None = None, timeout=60):
        if bool(socket_path) == bool(host):
            raise ValueError("give clamd a socket path or a host:port, one of them")
        self.socket_path = socket_path
        self.address = parse_host_port(host) if host else None
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Config) -> Clamd | None:
        """The configured clamd, or None when scanning is off."""
        if not config.scanning:
            return None
        return cls(
            socket_path=config.clamd_socket, host=config.clamd_host, timeout=config.scan_timeout
        )

    def describe(self) -> str:
        if self.socket_path:
            return f"clamd at {self.socket_path}"
        host, port = self.address
        return f"clamd at {host}:{port}"

    def ping(self, timeout: float = PING_TIMEOUT_SECONDS) -> None:
        """Raise ScannerUnavailable unless clamd answers PONG within `timeout` seconds."""
        answer = self._command(b"zPING\0", timeout=timeout)
        if answer != "PONG":
            raise ScannerUnavailable(f"clamd answered PING with {answer[:80]!r}")

    def scan(self, stream: BinaryIO) -> Verdict:
        """Send `stream` to clamd in chunks and return its verdict.

        Raises ScanTooLarge when clamd stops reading at its StreamMaxLength, and
        ScannerUnavailable when clamd cannot be reached, stalls, or reports an error.
        """
        try:
            with self._connect(self.timeout) as conn:
                conn.sendall(b"zINSTREAM\0")
                try:
                    while chunk := stream.read(CHUNK_BYTES):
                        conn.sendall(struct.pack(">I", len(chunk)) + chunk)
                    conn.sendall(struct.pack(">I", 0))
                except (BrokenPipeError, ConnectionResetError):
                    # clamd stops reading at its size limit and closes; its answer may
                    # still be waiting in our receive buffer.
                    pass
                answer = _read_answer(conn)
        except OSError as error:
            raise ScannerUnavailable(f"{self.describe()}: {error}") from None
        return _verdict(answer)

    def _command(self, command: bytes, timeout: float) -> str:
        try:
            with self._connect(timeout) as conn:
                conn.sendall(command)
                return _read_answer(conn)
        except OSError as error:
            raise ScannerUnavailable(f"{self.describe()}: {error}") from None

    def _connect(self, timeout: float) -> socket.socket:
        if self.socket_path:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(timeout)
            try:
                conn.connect(self.socket_path)
            except OSError:
                conn.close()
                raise
            return conn
        return socket.create_connection(self.address, timeout=timeout)


def _read_answer(conn: socket.socket) -> str:
    """One NUL-terminated answer (or everything up to the close)."""
    answer = b""
    while not answer.endswith(b"\0") and len(answer) < MAX_ANSWER_BYTES:
        piece = conn.recv(MAX_ANSWER_BYTES)
        if not piece:
            break
        answer += piece
    if not answer:
        raise ConnectionResetError("clamd closed the connection without an answer")
    return answer.rstrip(b"\0").decode("utf-8", "replace").strip()


def _verdict(answer: str) -> Verdict:
    # "stream: OK", "stream: Eicar-Signature FOUND", "<reason> ERROR"
    if answer.startswith(SIZE_LIMIT_ANSWER):
        raise ScanTooLarge(answer)
    if answer.endswith("ERROR"):
        raise ScannerUnavailable(f"clamd: {answer[:200]}")
    _, _, result = answer.partition(": ")
    if result == "OK":
        return Verdict()
    if result.endswith(" FOUND"):
        return Verdict(result.removesuffix(" FOUND").strip())
    raise ScannerUnavailable(f"clamd answered {answer[:200]!r}")
