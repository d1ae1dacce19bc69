"""A real clamd (Debian's clamav-daemon) of the tests' own, on a signature database they write.

No signature ever comes from the network: the database holds a hash signature of a file
the tests make (MALWARE), a body signature of the EICAR test string, and whatever a test
adds later (add_hash_signature, then reload). clamd with so small a database starts in
about a second. `make services` installs clamd (scripts/install-test-deps.sh).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import subprocess
import time
from pathlib import Path

from drop.protection.scanning import Clamd, ScannerUnavailable

# A file no real scanner knows, made "malware" by the hash signature below.
MALWARE = b"drop test sample: this file is flagged by a signature the tests write\n" * 3
MALWARE_SIGNATURE = "Drop.Test.Sample"
# The industry's antivirus test string; clamd finds it only with a signature for it.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Drop.Test.Eicar"
# clamd appends this to the names of signatures outside its official databases.
UNOFFICIAL = ".UNOFFICIAL"
STREAM_MAX_BYTES = 1024 * 1024


def clamd_binary() -> str:
    found = shutil.which("clamd") or "/usr/sbin/clamd"
    if not Path(found).exists():
        raise RuntimeError("clamd is missing: run `make services` (installs clamav-daemon)")
    return found


class ClamdServer:
    """clamd in the foreground on a unix socket in `directory`; start, stop, start again."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.database = self.directory / "db"
        self.socket_path = str(self.directory / "clamd.sock")
        self.log = self.directory / "clamd.log"
        self.process: subprocess.Popen | None = None
        self.database.mkdir(parents=True, exist_ok=True)
        self.add_hash_signature(MALWARE, MALWARE_SIGNATURE, "drop-test.hsb")
        (self.database / "eicar.ndb").write_text(f"{EICAR_SIGNATURE}:0:*:{EICAR.hex()}\n")
        self.conf = self.directory / "clamd.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"LocalSocket {self.socket_path}",
                    f"DatabaseDirectory {self.database}",
                    f"LogFile {self.log}",
                    f"PidFile {self.directory / 'clamd.pid'}",
                    f"TemporaryDirectory {self.directory}",
                    "Foreground yes",
                    f"StreamMaxLength {STREAM_MAX_BYTES}",
                    # Reloads only when told (RELOAD): no surprise while a test runs.
                    "SelfCheck 0",
                    "",
                ]
            )
        )

    @property
    def client(self) -> Clamd:
        return Clamd(socket_path=self.socket_path, timeout=10)

    def add_hash_signature(self, content: bytes, name: str, filename: str) -> None:
        """A signature matching exactly `content` (sha256 and size), in its own file."""
        digest = hashlib.sha256(content).hexdigest()
        (self.database / filename).write_text(f"{digest}:{len(content)}:{name}\n")

    def start(self, timeout: float = 30) -> ClamdServer:
        Path(self.socket_path).unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [clamd_binary(), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clamd exited at start: {self.log.read_text()[-2000:]}")
            try:
                self.client.ping(timeout=1)
                return self
            except ScannerUnavailable:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"clamd did not answer within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def reload(self, expect: bytes, timeout: float = 30) -> None:
        """Have clamd read its database again; return once it finds `expect` infected."""
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(5)
            conn.connect(self.socket_path)
            conn.sendall(b"zRELOAD\0")
            conn.recv(64)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.client.scan(io.BytesIO(expect)).infected:
                    return
            except ScannerUnavailable:
                pass  # reloading
            time.sleep(0.1)
        raise TimeoutError("clamd did not load the new signature")
