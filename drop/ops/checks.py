"""`drop-ops check`: is everything drop depends on in working order? One line per check."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse, urlunparse

import peewee
import redis

from drop.clock import utcnow
from drop.config import DAY, Config
from drop.db import migrations
from drop.db.models import open_database
from drop.protection.scanning import Clamd, ScannerUnavailable
from drop.runtime.heartbeat import worker_health
from drop.runtime.logs import first_line
from drop.storage import S3, StorageUnavailable, open_storage
from drop.storage.s3 import ABORT_INCOMPLETE_DAYS
from drop.wording import human_bytes


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def run_checks(config: Config) -> Iterator[CheckResult]:
    """Check the database, Redis, storage and worker of a valid configuration."""
    yield check_database(config)
    yield check_redis(config)
    yield check_storage(config)
    yield check_worker(config)
    if config.scanning:
        yield check_scanner(config)


def check_database(config: Config) -> CheckResult:
    where = redact_url(config.effective_database_url)
    try:
        database = open_database(config.effective_database_url)
        with database:
            database.execute_sql("SELECT 1")
            pending = [m.name for m in migrations.status(database) if not m.applied]
    except peewee.DatabaseError as error:
        return CheckResult("database", False, f"{where}: {first_line(error)}")
    if pending:
        return CheckResult(
            "database", False, f"{where}: pending migrations {', '.join(pending)}; run migrate"
        )
    return CheckResult("database", True, f"{where}, schema up to date")


def check_redis(config: Config) -> CheckResult:
    if not config.redis_url:
        return CheckResult("redis", True, "not configured (embedded mode: SQLite-backed queue)")
    where = redact_url(config.redis_url)
    try:
        client = redis.Redis.from_url(config.redis_url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
    except redis.RedisError as error:
        return CheckResult("redis", False, f"{where}: {first_line(error)}")
    return CheckResult("redis", True, f"{where} answers")


def check_storage(config: Config) -> CheckResult:
    if config.storage == S3:
        return check_object_store(config)
    probe = config.data_dir / "tmp" / f"check-{uuid.uuid4().hex}.part"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"drop")
        probe.unlink()
        free = shutil.disk_usage(config.data_dir).free
    except OSError as error:
        return CheckResult("storage", False, f"{config.data_dir} is not writable: {error.strerror}")
    if free < config.min_free_bytes:
        return CheckResult(
            "storage",
            False,
            f"{config.data_dir}: only {human_bytes(free)} free "
            f"(DROP_MIN_FREE_BYTES is {human_bytes(config.min_free_bytes)})",
        )
    return CheckResult("storage", True, f"{config.data_dir} writable, {human_bytes(free)} free")


def check_object_store(config: Config) -> CheckResult:
    """The bucket answers and takes a probe object (put, then delete), with our credentials."""
    storage = open_storage(config)
    problem = storage.probe()
    if problem is not None:
        return CheckResult("storage", False, problem)
    return CheckResult("storage", True, f"{storage.describe()} writable")


def lifecycle_expire_days(config: Config, longest_token_expiry: int | None) -> int:
    """Days after which no object in the bucket can still be needed: the longest a drop may
    live (DROP_MAX_EXPIRES_IN, or an API token's longer limit), its last download's resume
    window and grace delay, and a day to spare, rounded up; and never less than a resumable
    upload's longest life, whose tail object must outlive it."""
    longest = max(config.max_expires_in, longest_token_expiry or 0)
    needed = longest + config.resume_window + config.delete_grace_seconds
    return max(-(-needed // DAY) + 1, ABORT_INCOMPLETE_DAYS)


def fix_object_store_lifecycle(config: Config) -> CheckResult:
    """`drop-ops check --fix` on S3: the bucket aborts abandoned multipart uploads and
    expires objects every deletion missed (the caller holds a database connection)."""
    from drop.protection.api_tokens import ApiToken

    longest_token_expiry = ApiToken.select(peewee.fn.MAX(ApiToken.max_expires_in)).scalar()
    days = lifecycle_expire_days(config, longest_token_expiry)
    storage = open_storage(config)
    try:
        rules = storage.apply_lifecycle(days)
    except StorageUnavailable as error:
        return CheckResult("lifecycle", False, f"not set: {error}")
    if len(rules) != 2:
        return CheckResult("lifecycle", False, "the store took the rules but does not keep them")
    return CheckResult(
        "lifecycle",
        True,
        f"incomplete uploads aborted after {ABORT_INCOMPLETE_DAYS} days, "
        f"objects expired after {days} days",
    )


def check_worker(config: Config) -> CheckResult:
    health = worker_health(config.data_dir, utcnow(), config.worker_stale_seconds)
    return CheckResult("worker", health.alive, health.describe())


def check_scanner(config: Config) -> CheckResult:
    """clamd answers PING (only run when DROP_CLAMD_SOCKET or DROP_CLAMD_HOST is set)."""
    clamd = Clamd.from_config(config)
    try:
        clamd.ping()
    except ScannerUnavailable as error:
        held = ", new uploads wait for it (hold)" if config.scan_holds else ""
        return CheckResult("scanner", False, f"{first_line(error)}{held}")
    return CheckResult("scanner", True, f"{clamd.describe()} answers, mode {config.scan_mode}")


def redact_url(url: str) -> str:
    """The URL without its password, fit for output and logs."""
    parts = urlparse(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunparse(parts._replace(netloc=netloc))
