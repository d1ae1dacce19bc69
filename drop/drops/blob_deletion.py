"""Queueing a gone drop's blob for deletion, with the sweep as the fallback."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class BlobDeletion:
    """Queues a blob's deletion through `schedule(token, keep_seconds=…)`; a failing queue
    is only a warning.

    It is called once the drop is gone in the database (downloaded, deleted), and the
    per-minute sweep deletes the blobs of gone drops (after the grace delay) on its own.
    So when Redis or Huey fails, the blob is deleted a little later, and the answer the
    recipient was owed stays the answer they get: never an error after a claimed download.
    """

    def __init__(self, schedule: Callable[..., None]):
        self._schedule = schedule

    def __call__(self, token: str, keep_seconds: int = 0) -> None:
        """Delete after the grace delay plus `keep_seconds` (a used-up drop's resume window)."""
        try:
            self._schedule(token, keep_seconds=keep_seconds)
        # Whatever broke (Redis, its breaker, the SQLite queue, Huey itself), the sweep
        # is the same safe way out; the warning says what broke.
        except Exception as error:
            log.warning(
                "blob of drop %s… left to the sweep: queueing its deletion failed (%s: %s)",
                token[:8],
                type(error).__name__,
                error,
            )
