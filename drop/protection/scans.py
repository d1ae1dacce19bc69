"""Malware scanning of stored drops with clamd: the state each drop's row keeps, a scan and
what its verdict does, and finding scans to queue again.

An upload commits its row with `scan_status` already set (`pending`, or `too_large`
for a file clamd would not take), so no moment exists in which a held drop could be
served unscanned; the scan is queued right after the commit (UploadScanning). A hit makes
the drop `infected` (never served again, 451) and moves its blob to quarantine.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from drop.config import Config
from drop.db.models import (
    INFECTED,
    LIVE,
    MAX_SIGNATURE_CHARS,
    SCAN_CLEAN,
    SCAN_INFECTED,
    SCAN_PENDING,
    SCAN_TOO_LARGE,
    Drop,
    db,
)
from drop.protection import audit
from drop.protection.scanning import Clamd, ScannerUnavailable, ScanTooLarge
from drop.refusals import TooLarge
from drop.runtime import metrics
from drop.storage import BlobStorage, open_storage_for_task, task_s3_settings

log = logging.getLogger(__name__)

# Outcomes besides the scan statuses: the drop or its blob is gone, nothing to scan.
GONE = "gone"
# Pending scans queued again per sweep: a long clamd outage is worked off over sweeps.
REQUEUE_BATCH = 500
# drop-ops scan reads live drops this many rows at a time.
RESCAN_BATCH = 100


@dataclass(frozen=True)
class ScanSettings:
    """What a queued scan needs, carried in the task: the worker may run elsewhere."""

    data_dir: str
    clamd_socket: str | None
    clamd_host: str | None
    timeout: int
    max_bytes: int
    quarantine: str
    s3: dict | None = None  # the bucket, when blobs live in S3 (no credential)

    @classmethod
    def from_config(cls, config: Config) -> ScanSettings:
        return cls(
            str(config.data_dir),
            config.clamd_socket,
            config.clamd_host,
            config.scan_timeout,
            config.scan_max_bytes,
            config.scan_quarantine,
            task_s3_settings(config),
        )


@dataclass(frozen=True)
class ScanOutcome:
    token: str
    result: str  # clean, infected, too_large or gone
    filename: str = ""
    signature: str | None = None

    def as_json(self) -> dict:
        return {
            "token_prefix": audit.token_prefix(self.token),
            "filename": self.filename,
            "result": self.result,
            "signature": self.signature,
        }


def initial_status(config: Config, size: int) -> str | None:
    """The scan status a new drop's row starts with: None while scanning is off."""
    if not config.scanning:
        return None
    return SCAN_TOO_LARGE if size > config.scan_max_bytes else SCAN_PENDING


class UploadScanning:
    """What every upload path does about scanning, in one place.

    Before the row commits: refuse a file too large to scan when the operator said so
    (413), and name the row's first scan status. After: queue its scan. Queueing never
    fails an upload: the sweep queues a pending scan again after
    DROP_SCAN_REQUEUE_SECONDS.
    """

    def __init__(self, config: Config, schedule_scan: Callable[[str], None]):
        self._config = config
        self._schedule_scan = schedule_scan

    def admit(self, size: int) -> None:
        config = self._config
        if config.scanning and config.scan_too_large == "refuse" and size > config.scan_max_bytes:
            raise TooLarge(
                f"files larger than {config.scan_max_bytes} bytes cannot be checked "
                "for malware, and this server accepts only checked files"
            )

    def status_for(self, size: int) -> str | None:
        return initial_status(self._config, size)

    def stored(self, drop: Drop) -> None:
        if drop.scan_status == SCAN_TOO_LARGE:
            metrics.SCANS.labels(SCAN_TOO_LARGE).inc()  # so operators see what escapes scanning
        if drop.scan_status != SCAN_PENDING:
            return
        try:
            self._schedule_scan(drop.token)
        except Exception as error:  # Redis, its breaker, the SQLite queue: the sweep retries
            log.warning(
                "scan of drop %s… left to the sweep: queueing it failed (%s: %s)",
                drop.token[:8],
                type(error).__name__,
                error,
            )


class Scanner:
    """Scans stored drops with clamd and records each verdict in the drop's row."""

    def __init__(
        self,
        storage: BlobStorage,
        clamd: Clamd,
        *,
        max_bytes: int,
        quarantine: str = "keep",
        actor: str = audit.SCANNER_ACTOR,
    ):
        self._storage = storage
        self._clamd = clamd
        self._max_bytes = max_bytes
        self._quarantine = quarantine
        self._actor = actor

    @classmethod
    def from_settings(cls, settings: ScanSettings, **kwargs) -> Scanner:
        clamd = Clamd(
            socket_path=settings.clamd_socket, host=settings.clamd_host, timeout=settings.timeout
        )
        return cls(
            open_storage_for_task(settings.data_dir, settings.s3),
            clamd,
            max_bytes=settings.max_bytes,
            quarantine=settings.quarantine,
            **kwargs,
        )

    def scan(self, token: str, now: datetime.datetime) -> ScanOutcome:
        """Scan one drop's blob and record the verdict.

        Raises ScannerUnavailable when clamd cannot give one; the drop stays as it was
        (pending), for a retry.
        """
        drop = Drop.get_or_none(Drop.token == token)
        if drop is None or drop.status == INFECTED:
            return ScanOutcome(token, GONE, drop.filename if drop else "")
        if drop.size > self._max_bytes:
            return self._too_large(drop, now)
        try:
            # The storage's open(): a local file, or an S3 object's body read as it comes.
            with self._storage.open(token) as blob:
                verdict = self._clamd.scan(blob)
        except FileNotFoundError:
            return ScanOutcome(token, GONE, drop.filename)  # downloaded or deleted meanwhile
        except ScanTooLarge:
            log.warning(
                "clamd refused drop %s… as longer than its StreamMaxLength: set "
                "DROP_SCAN_MAX_BYTES to at most clamd's StreamMaxLength",
                token[:8],
            )
            return self._too_large(drop, now)
        except ScannerUnavailable:
            metrics.SCANS.labels("error").inc()
            raise
        if verdict.infected:
            return self._infected(drop, verdict.signature, now)
        with db.atomic():
            Drop.update(scan_status=SCAN_CLEAN, scanned_at=now, scan_signature=None).where(
                (Drop.token == token) & (Drop.status != INFECTED)
            ).execute()
        metrics.SCANS.labels(SCAN_CLEAN).inc()
        return ScanOutcome(token, SCAN_CLEAN, drop.filename)

    def _too_large(self, drop: Drop, now: datetime.datetime) -> ScanOutcome:
        with db.atomic():
            Drop.update(scan_status=SCAN_TOO_LARGE, scanned_at=now).where(
                (Drop.id == drop.id) & (Drop.status != INFECTED)
            ).execute()
        metrics.SCANS.labels(SCAN_TOO_LARGE).inc()
        return ScanOutcome(drop.token, SCAN_TOO_LARGE, drop.filename)

    def _infected(self, drop: Drop, signature: str, now: datetime.datetime) -> ScanOutcome:
        signature = signature[:MAX_SIGNATURE_CHARS]
        # The row first: once it says infected no claim succeeds, then the blob goes.
        with db.atomic():
            newly = (
                Drop.update(
                    status=INFECTED,
                    gone_at=now if drop.gone_at is None else drop.gone_at,
                    scan_status=SCAN_INFECTED,
                    scan_signature=signature,
                    scanned_at=now,
                )
                .where((Drop.id == drop.id) & (Drop.status != INFECTED))
                .execute()
            )
        if self._quarantine == "delete":
            self._storage.delete(drop.token)
        else:
            self._storage.quarantine(drop.token)
        metrics.SCANS.labels(SCAN_INFECTED).inc()
        if newly:
            prefix = audit.token_prefix(drop.token)
            log.warning("malware found in drop %s…: %s; never served again", prefix, signature)
            audit.record(
                audit.MALWARE_FOUND,
                actor=self._actor,
                at=now,
                target=audit.drop_target(drop),
                detail={
                    "drop_id": drop.id,
                    "token_prefix": prefix,
                    "signature": signature,
                    "was": drop.status,
                    "blob": "deleted" if self._quarantine == "delete" else "quarantined",
                },
            )
        return ScanOutcome(drop.token, SCAN_INFECTED, drop.filename, signature)


def due_for_requeue(
    now: datetime.datetime, after_seconds: int, limit: int = REQUEUE_BATCH
) -> list[str]:
    """Live drops whose scan has been pending, unqueued, for `after_seconds`: their tokens,
    marked as queued now.

    At most `limit` a call (the per-minute sweep); the partial index of migration 0013
    holds only pending rows.
    """
    cutoff = now - datetime.timedelta(seconds=after_seconds)
    with db.atomic():
        due = list(
            Drop.select(Drop.id, Drop.token)
            .where(
                (Drop.scan_status == SCAN_PENDING)
                & (Drop.status == LIVE)
                & (Drop.scan_queued_at.is_null() | (Drop.scan_queued_at <= cutoff))
            )
            .order_by(Drop.scan_queued_at)
            .limit(limit)
        )
        if due:
            Drop.update(scan_queued_at=now).where(Drop.id.in_([d.id for d in due])).execute()
    return [d.token for d in due]


def drops_to_rescan(tokens: list[str] | None, batch: int = RESCAN_BATCH) -> Iterator[str]:
    """The tokens `drop-ops scan` goes through: the given ones that exist, or (None) every
    live drop, read `batch` rows at a time in id order."""
    if tokens is not None:
        found = {d.token for d in Drop.select(Drop.token).where(Drop.token.in_(tokens))}
        yield from (token for token in tokens if token in found)
        return
    last_id = 0
    while True:
        rows = list(
            Drop.select(Drop.id, Drop.token)
            .where((Drop.status == LIVE) & (Drop.id > last_id))
            .order_by(Drop.id)
            .limit(batch)
        )
        yield from (row.token for row in rows)
        if len(rows) < batch:
            return
        last_id = rows[-1].id


def count_live() -> int:
    return Drop.select().where(Drop.status == LIVE).count()


def record_scans(
    counts: dict[str, int],
    infected: list[ScanOutcome],
    *,
    target: str,
    now: datetime.datetime,
    actor: str,
) -> None:
    """The audit trail's record of a run of scans (`counts` by result), if any was made."""
    if sum(counts.values()):
        audit.record(
            audit.SCAN,
            actor=actor,
            at=now,
            target=target,
            detail={**counts, "infected_drops": [o.token[:8] for o in infected]},
        )
