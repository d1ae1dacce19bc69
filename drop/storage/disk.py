"""Free space in the data directory: the floor uploads must leave, and a full disk's answer."""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
from pathlib import Path

import falcon
import peewee

from drop.runtime.logs import log_unexpected_error

log = logging.getLogger(__name__)

# The OS says "no space" (ENOSPC) or "over quota" (EDQUOT); PostgreSQL's disk_full is 53100.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
POSTGRES_DISK_FULL = "53100"
# SQLite says FULL when a write finds no room, and IOERR_SHMSIZE when a new connection
# cannot create its WAL index (the -shm file) on a disk without a byte left.
SQLITE_DISK_FULL = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_SHMSIZE})
DISK_FULL = "the server's disk is full; try again later"
LOW_ON_SPACE = (
    "the server is keeping its last free space (DROP_MIN_FREE_BYTES) and takes no uploads "
    "that would use it; try again later"
)


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on the filesystem holding `path`."""
    return shutil.disk_usage(path).free


class FreeSpaceFloor:
    """DROP_MIN_FREE_BYTES: uploads never take the data directory below this much free space."""

    def __init__(self, path: Path, min_free_bytes: int):
        self._path = path
        self._min_free_bytes = min_free_bytes

    def below(self, incoming_bytes: int = 0) -> bool:
        """True when `incoming_bytes` more would leave less than the floor free."""
        if self._min_free_bytes == 0:
            return False
        return free_bytes(self._path) - incoming_bytes < self._min_free_bytes

    def require_room(self, incoming_bytes: int = 0) -> None:
        """Raise 507 unless `incoming_bytes` more still leave the floor free."""
        if self.below(incoming_bytes):
            raise falcon.HTTPInsufficientStorage(description=LOW_ON_SPACE)


def is_disk_full(error: BaseException) -> bool:
    """True for an error that means the disk (of the data dir or the database) is full.

    The errors it caused count too: SQLite rolls a transaction back by itself when the
    disk fills, so peewee's own rollback then fails with "no transaction is active".
    """
    while error is not None:
        if _says_disk_full(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _says_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in DISK_FULL_ERRNOS
    if isinstance(error, sqlite3.Error):  # raised by the driver itself, e.g. from fetchone()
        return getattr(error, "sqlite_errorcode", None) in SQLITE_DISK_FULL
    if isinstance(error, peewee.OperationalError):
        cause = getattr(error, "orig", None)  # the driver's own exception
        return (
            getattr(cause, "sqlite_errorcode", None) in SQLITE_DISK_FULL
            or getattr(cause, "pgcode", None) == POSTGRES_DISK_FULL
        )
    return False


def disk_full_error(req: falcon.Request, resp: falcon.Response, error: Exception, params) -> None:
    """Falcon error handler: a full disk is 507 with a reason; any other error stays a 500."""
    if is_disk_full(error):
        log.warning("disk full in %s %s: answered 507 (%s)", req.method, req.path, error)
        raise falcon.HTTPInsufficientStorage(description=DISK_FULL) from error
    log_unexpected_error(req, resp, error, params)
