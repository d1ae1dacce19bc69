"""Background work on Huey: deleting downloaded blobs and the per-minute sweep.

Huey is Redis-backed when DROP_REDIS_URL is set and SQLite-backed otherwise, so the
embedded default needs no server.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from huey import RedisHuey, SqliteHuey, crontab, signals
from huey.storage import BaseStorage

from drop import drops, limits, metrics, tus
from drop.config import Config
from drop.heartbeat import write_heartbeat
from drop.models import db, init_database
from drop.ops import audit, purge
from drop.partial_uploads import PartialUploads
from drop.storage import BlobStorage

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
def delete_blob(data_dir: str, token: str) -> None:
    """Remove a gone drop's blob (scheduled once its last download has been served)."""
    BlobStorage(Path(data_dir)).delete(token)


@huey.periodic_task(crontab(minute="*"))
def sweep() -> dict:
    """Expire due drops; remove blobs nothing needs and stale temp files; forget uploaders
    older than DROP_UPLOADER_RETENTION."""
    with db.connection_context():
        report = drops.sweep(
            BlobStorage(config.data_dir),
            drops.utcnow(),
            config.delete_grace_seconds,
            uploader_retention=config.uploader_retention,
        )
    if (
        report.expired
        or report.blobs_deleted
        or report.orphans_deleted
        or report.temps_deleted
        or report.uploaders_erased
    ):
        log.info(
            "sweep: %d expired, %d blobs and %d orphans deleted, %d temp files removed, "
            "%d uploaders forgotten",
            len(report.expired),
            len(report.blobs_deleted),
            len(report.orphans_deleted),
            report.temps_deleted,
            report.uploaders_erased,
        )
    uploads = sweep_uploads(config.data_dir)
    return {
        "expired": len(report.expired),
        "blobs_deleted": len(report.blobs_deleted),
        "uploads_deleted": uploads,
    }


def sweep_uploads(data_dir: Path) -> int:
    """Delete unfinished tus uploads past DROP_UPLOAD_EXPIRES_IN, rows and bytes (in
    bounded batches), and bytes no upload needs any more; return how many."""
    partials = PartialUploads(data_dir)
    now = drops.utcnow()
    with db.connection_context():
        expired = tus.sweep_expired(partials, now)
        orphans = tus.sweep_orphans(partials, now)
    if expired or orphans:
        log.info("sweep: %d expired uploads and %d orphaned upload files deleted", expired, orphans)
    return expired + orphans


def schedule_blob_deletion(
    data_dir: Path, token: str, delay_seconds: int = 0, storage: BaseStorage | None = None
) -> None:
    """Queue deletion of a blob, after `delay_seconds` when a proxy still has to open it."""
    enqueue(delete_blob.s(str(data_dir), token, delay=delay_seconds or None), storage)


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
    write_heartbeat(config.data_dir, drops.utcnow())


@huey.periodic_task(crontab(minute="*"))
def heartbeat():
    """Tell `drop-ops check` and the dashboard the worker is executing tasks."""
    write_heartbeat(config.data_dir, drops.utcnow())


@huey.periodic_task(crontab(minute="*/10"))
def forget_rate_counters() -> int:
    """Delete limit counters (the database's, without Redis) whose time has passed."""
    with db.connection_context():
        return limits.forget_expired(limits.epoch_ms(drops.utcnow()))


# Up to 100 batches of 1000 rows a run: a backlog (a flood of refused logins) is worked
# off by the next runs, and by drop-ops purge, which trims to the end.
AUDIT_TRIM_BATCHES = 100


@huey.periodic_task(crontab(minute="*/10"))
def trim_audit_trail() -> int:
    """Delete audit events older than DROP_AUDIT_RETENTION, a bounded number per run."""
    with db.connection_context():
        return audit.trim(
            drops.utcnow(),
            datetime.timedelta(seconds=config.audit_retention),
            max_batches=AUDIT_TRIM_BATCHES,
        )


def purge_progress_key(task_id: str) -> str:
    return f"drop:purge:{task_id}"


@huey.task(context=True)
def purge_expired(data_dir: str, retention_seconds: int, task=None) -> None:
    """Purge drops gone or expired for longer than the retention (the dashboard's button).

    Progress and outcome are kept under purge_progress_key(task.id) for the page to poll
    (the queue keeps no task results).
    """
    key = purge_progress_key(task.id)
    with db.connection_context():
        now = drops.utcnow()
        doomed = purge.select_purgeable(
            now, older_than=datetime.timedelta(seconds=retention_seconds)
        )
        done = 0
        huey.put(key, {"state": "running", "done": 0, "total": len(doomed)})

        def progress(step: int) -> None:
            nonlocal done
            done += step
            if done % 50 == 0:
                huey.put(key, {"state": "running", "done": done, "total": len(doomed)})

        result = purge.purge_drops(BlobStorage(Path(data_dir)), doomed, progress)
        purge.prune_download_events(now)
    outcome = {
        "state": "done",
        "done": len(doomed),
        "total": len(doomed),
        "drops": result.drops,
        "bytes_freed": result.bytes_freed,
    }
    huey.put(key, outcome)
    log.info("purge: %d drops removed, %d bytes freed", result.drops, result.bytes_freed)
