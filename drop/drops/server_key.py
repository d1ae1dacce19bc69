"""The server's own secret, for values only drop may mint (a download grant's ETag).

DROP_SECRET_KEY when the operator sets it (needed when several machines with their own
data directories serve one database); otherwise random bytes kept in DROP_DATA_DIR/secret_key,
made by whichever process needs them first, so every worker of a machine shares them
and they survive restarts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

KEY_FILE = "secret_key"
KEY_BYTES = 32


class ServerKey:
    """The key material, read or made on first use; None while it cannot be (a full disk).

    Loaded lazily rather than at start-up: a worker must boot and serve downloads on a
    full disk, where the first machine-wide key cannot be written yet.
    """

    def __init__(self, configured: str | None, data_dir: Path):
        self._material = configured.encode() if configured else None
        self._path = Path(data_dir) / KEY_FILE
        self._warned = False

    def material(self) -> bytes | None:
        if self._material is None:
            try:
                self._material = _read_or_create(self._path)
            except OSError as error:
                if not self._warned:
                    log.warning("no server key yet, downloads cannot be resumed: %s", error)
                    self._warned = True
                return None
        return self._material


def _read_or_create(path: Path) -> bytes:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    # Written whole under another name, then linked into place: a process racing this one
    # either wins the link or reads the winner's complete file, never a half-written one.
    temp = path.with_name(f".{KEY_FILE}.{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(KEY_BYTES) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: read its key
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    material = path.read_text().strip()
    if len(material) < KEY_BYTES:
        raise OSError(f"{path} is too short to be a key")
    return material.encode()
