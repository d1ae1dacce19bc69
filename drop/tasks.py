"""Background work on Huey: deleting downloaded blobs, the per-minute sweep and the
rarer reconciliation of storage with the database.

Huey is Redis-backed when DROP_REDIS_URL is set and SQLite-backed otherwise, so the
embedded default needs no server.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from huey import RedisHuey, SqliteHuey, crontab, signals
from huey.exceptions import CancelExecution
from huey.storage import BaseStorage

from drop.clock import epoch_ms, utcnow
from drop.config import Config
from drop.db.models import db, init_database
from drop.drops import lifecycle as drops
from drop.ops import hourly_counts, purge
from drop.protection import audit, limits, scans
from drop.protection.scanning import ScannerUnavailable
from drop.runtime import metrics
from drop.runtime.heartbeat import write_heartbeat
from drop.storage import BlobStorage, open_storage, open_storage_for_task
from drop.tus import open_partial_uploads
from drop.tus import records as tus
from drop.tus.partials import PartialStore

log = logging.getLogger(__name__)


def build_huey(config: Config, connection_pool=None):
    """The queue for `config`; on Redis, through `connection_pool` when one is given.

    It keeps no task results: nobody reads them (the purge reports its progress under its
    own key), and a stored result would stay in Redis for ever.
    """
    if config.redis_url:
        if connection_pool is not None:
            return RedisHuey("drop", connection_pool=connection_pool, results=False)
        return RedisHuey("drop", url=config.redis_url, results=False)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("drop", filename=str(config.data_dir / "huey.sqlite3"), results=False)


config = Config.from_env()
huey = build_huey(config)


@huey.on_startup()
def open_database():
    # The consumer imports this module without the web app's factory, so it points
    # the model at the database itself.
    if db.obj is None:
        init_database(config.effective_database_url)


@huey.signal(signals.SIGNAL_ERROR)
def count_task_failure(signal, task, exc=None):
    metrics.TASK_FAILURES.labels(task.name).inc()


@huey.task(retries=3, retry_delay=10)
def delete_blob(data_dir: str, token: str, s3: dict | None = None) -> None:
    """Remove a gone drop's blob (scheduled once its last download has been served, to run
    after the grace delay and the resume window), and mark it deleted so the sweep need
    not look at it again.

    `s3`: the bucket's settings when blobs live in S3 (drop.storage.open_storage_for_task).
    """
    with db.connection_context():
        drops.delete_blob(open_storage_for_task(data_dir, s3), token, utcnow())


# A scan that cannot reach clamd is tried again after DROP_SCAN_RETRY_DELAY seconds,
# twice as long after each failure (30 s … 8 min: about 16 minutes in all by default);
# after that the sweep queues it again once it has waited DROP_SCAN_REQUEUE_SECONDS.
SCAN_RETRIES = 5
SCAN_RETRY_BACKOFF = 2


@huey.task(retries=SCAN_RETRIES, retry_backoff=SCAN_RETRY_BACKOFF, context=True)
def scan_drop(token: str, settings: scans.ScanSettings, task=None) -> str:
    """Scan a new upload with clamd; a hit makes the drop infected and quarantines its blob."""
    try:
        with db.connection_context():
            outcome = scans.Scanner.from_settings(settings).scan(token, utcnow())
    except ScannerUnavailable as error:
        # Expected while clamd restarts: one warning line, not a traceback per attempt.
        # CancelExecution retries while retries are left, with the task's backoff.
        then = f"retrying in {task.retry_delay} s" if task.retries else "left to the sweep"
        log.warning("scan of drop %s… failed, %s; %s", token[:8], error, then)
        raise CancelExecution(retry=bool(task.retries)) from None
    return outcome.result


def schedule_scan(token: str, config: Config, storage: BaseStorage | None = None) -> None:
    """Queue the malware scan of a drop whose row has just committed."""
    task = scan_drop.s(
        token, scans.ScanSettings.from_config(config), retry_delay=config.scan_retry_delay
    )
    enqueue(task, storage)


def requeue_pending_scans(config: Config, now: datetime.datetime) -> int:
    """Queue again the scans of live drops pending for DROP_SCAN_REQUEUE_SECONDS (their
    tasks ran out of retries while clamd was down, or were never queued); return how many."""
    if not config.scanning:
        return 0
    due = scans.due_for_requeue(now, config.scan_requeue_seconds)
    for token in due:
        schedule_scan(token, config)
    return len(due)


# A sweep working off a large backlog may outlast its minute; the next one then finds the
# lock taken and skips its turn instead of racing it over the same batches.
@huey.periodic_task(crontab(minute="*"))
@huey.lock_task("drop-sweep")
def sweep() -> dict:
    """Expire due drops and delete the blobs of gone ones, in bounded batches through the
    index; forget uploaders older than DROP_UPLOADER_RETENTION; queue again malware scans
    left pending. Never lists storage."""
    with db.connection_context():
        report = drops.sweep(
            open_storage(config),
            utcnow(),
            config.delete_grace_seconds,
            uploader_retention=config.uploader_retention,
            resume_window=config.resume_window,
        )
        requeued = requeue_pending_scans(config, utcnow())
    if requeued:
        log.info("sweep: %d pending malware scans queued again", requeued)
    if report.expired or report.blobs_deleted or report.uploaders_erased:
        log.info(
            "sweep: %d expired, %d blobs deleted, %d uploaders forgotten",
            report.expired,
            report.blobs_deleted,
            report.uploaders_erased,
        )
    uploads = sweep_expired_uploads(open_partial_uploads(config.data_dir, open_storage(config)))
    return {
        "expired": report.expired,
        "blobs_deleted": report.blobs_deleted,
        "uploads_deleted": uploads,
    }


def sweep_expired_uploads(partials: PartialStore) -> int:
    """Delete unfinished tus uploads past DROP_UPLOAD_EXPIRES_IN, rows and bytes, in
    bounded batches through the expiry index; return how many."""
    with db.connection_context():
        expired = tus.sweep_expired(partials, utcnow())
    if expired:
        log.info("sweep: %d expired resumable uploads deleted", expired)
    return expired


def reconcile_storage(storage: BlobStorage, data_dir: Path) -> purge.Reconciliation:
    """Walk storage against the database; delete orphan blobs and stale temp files, and
    the bytes of resumable uploads that no upload needs (in `data_dir`, or in the bucket).

    Live drops whose blob is missing are only reported: ending them is the operator's
    call (`drop-ops purge --fix`).
    """
    with db.connection_context():
        now = utcnow()
        found = purge.reconcile(storage, now)
        purge.tidy(storage, found, now)
        # Bytes of resumable uploads that no receiving upload needs (a crash between a
        # row's change and the file's deletion): a walk too, so it belongs here.
        partials = tus.sweep_orphans(open_partial_uploads(data_dir, storage), now)
    if partials:
        log.info("reconciliation: %d orphaned resumable-upload files deleted", partials)
    if not found.clean:
        log.warning(
            "reconciliation: %d orphan blobs and %d stale temp files removed; "
            "%d live drops without their blob (drop-ops purge --fix ends them)",
            len(found.orphan_blobs),
            len(found.stale_temps),
            len(found.missing_blobs),
        )
    return found


if config.reconcile_hours:

    @huey.periodic_task(crontab(minute="7", hour=f"*/{config.reconcile_hours}"))
    @huey.lock_task("drop-reconcile")
    def reconcile() -> int:
        """Every DROP_RECONCILE_HOURS: reconcile storage with the database (the walk the
        per-minute sweep never does)."""
        return len(reconcile_storage(open_storage(config), config.data_dir).orphan_blobs)


def schedule_blob_deletion(
    data_dir: Path,
    token: str,
    delay_seconds: int = 0,
    storage: BaseStorage | None = None,
    s3: dict | None = None,
) -> None:
    """Queue deletion of a blob, after `delay_seconds` when a proxy still has to open it
    or its last download may still be resumed."""
    enqueue(delete_blob.s(str(data_dir), token, s3, delay=delay_seconds or None), storage)


def enqueue(task, storage: BaseStorage | None = None) -> None:
    """Queue a task of this module, through `storage` when given.

    The web app passes its own Redis storage (short timeouts, behind the circuit breaker)
    rather than use `huey`'s, which has no timeouts: the consumer blocks on it for tasks.
    The message is the same either way: the consumer finds the task by its name. In
    immediate mode (the tests) the task runs inline, as huey.enqueue does.
    """
    if storage is None or huey.immediate:
        huey.enqueue(task)
    else:
        storage.enqueue(huey.serialize_task(task))


@huey.on_startup()
def first_heartbeat():
    # Beat at once, so a freshly started worker does not look dead for a minute.
    write_heartbeat(config.data_dir, utcnow())


@huey.periodic_task(crontab(minute="*"))
def heartbeat():
    """Tell `drop-ops check` and the dashboard the worker is executing tasks."""
    write_heartbeat(config.data_dir, utcnow())


@huey.periodic_task(crontab(minute="*/10"))
def forget_rate_counters() -> int:
    """Delete limit counters (the database's, without Redis) whose time has passed."""
    with db.connection_context():
        return limits.forget_expired(epoch_ms(utcnow()))


# Up to 100 batches of 1000 rows a run: a backlog (a flood of refused logins) is worked
# off by the next runs, and by drop-ops purge, which trims to the end.
AUDIT_TRIM_BATCHES = 100


@huey.periodic_task(crontab(minute="*/10"))
def trim_audit_trail() -> int:
    """Delete audit events older than DROP_AUDIT_RETENTION, a bounded number per run."""
    with db.connection_context():
        return audit.trim(
            utcnow(),
            datetime.timedelta(seconds=config.audit_retention),
            max_batches=AUDIT_TRIM_BATCHES,
        )


@huey.periodic_task(crontab(minute="*/10"))
def trim_hourly_stats() -> int:
    """Delete the charts' hourly counts older than 8 days (a few rows an hour)."""
    with db.connection_context():
        return hourly_counts.trim(utcnow())


def purge_progress_key(task_id: str) -> str:
    return f"drop:purge:{task_id}"


@huey.task(context=True)
def purge_expired(data_dir: str, retention_seconds: int, s3: dict | None = None, task=None) -> None:
    """Purge drops gone or expired for longer than the retention (the dashboard's button).

    Progress and outcome are kept under purge_progress_key(task.id) for the page to poll
    (the queue keeps no task results).
    """
    key = purge_progress_key(task.id)
    with db.connection_context():
        now = utcnow()
        where = purge.purgeable(now, older_than=datetime.timedelta(seconds=retention_seconds))
        total = purge.count_purgeable(where).drops
        done = 0
        huey.put(key, {"state": "running", "done": 0, "total": total})

        def progress(step: int) -> None:
            nonlocal done
            done += step
            huey.put(key, {"state": "running", "done": done, "total": total})

        result = purge.purge_drops(open_storage_for_task(data_dir, s3), where, progress)
        purge.prune_download_events(now)
    outcome = {
        "state": "done",
        "done": result.drops,
        "total": max(total, result.drops),
        "drops": result.drops,
        "bytes_freed": result.bytes_freed,
    }
    huey.put(key, outcome)
    log.info("purge: %d drops removed, %d bytes freed", result.drops, result.bytes_freed)
