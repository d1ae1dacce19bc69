"""The one place the web application is wired together."""

from __future__ import annotations

import functools
from collections.abc import Callable

import falcon
import redis
from falcon.media.multipart import MultipartFormHandler

from drop.clock import utcnow
from drop.config import Config
from drop.db.database import UNAVAILABLE_ERRORS
from drop.db.models import db, init_database
from drop.drops import lifecycle as drops
from drop.drops.blob_deletion import BlobDeletion
from drop.drops.downloads import LiveTokens
from drop.drops.grants import GrantSigner
from drop.drops.server_key import ServerKey
from drop.drops.uploads import Uploading
from drop.ops.hourly_counts import HourlyCounts
from drop.protection import limits
from drop.protection.scanning import Clamd
from drop.protection.scans import UploadScanning
from drop.protection.uploaders import UploaderCheck
from drop.refusals import Refused
from drop.resources.api_file import API_PREFIX, FileCollection, FileItem
from drop.resources.api_openapi import OpenAPIDocument
from drop.resources.api_uploads import (
    UPLOADS_PATH,
    TusProtocol,
    TusServer,
    UploadCollection,
    UploadItem,
)
from drop.resources.health import Liveness, Readiness
from drop.resources.ops.routes import add_ops_routes
from drop.resources.page_home import HomePage, UploadedPage
from drop.resources.page_report import REPORTS_PER_HOUR, ReportPage, SecurityTxt
from drop.resources.page_share import DeletePage, SharePage
from drop.resources.raw_upload import RawUpload
from drop.runtime.breaker import guarded_pool, redis_breaker
from drop.runtime.logs import RequestId, log_unexpected_error
from drop.runtime.serving import ClientTooSlow
from drop.storage import LOCAL, BlobStorage, StorageUnavailable, open_storage, task_s3_settings
from drop.storage.disk import disk_full_error
from drop.tus import open_partial_uploads
from drop.tus.partials import PartialStore
from drop.web.connections import DatabaseConnection
from drop.web.error_cache import ErrorCache
from drop.web.errors import (
    client_too_slow,
    database_unavailable,
    error_serializer,
    refused,
    storage_unavailable,
)
from drop.web.metrics import MetricsResource, RequestMetrics
from drop.web.static import add_static_routes
from drop.web.templates import Templates

# Text fields (password, expires_in, max_downloads) are tiny; the file part is streamed
# and never buffered, so nothing else needs room in memory.
MAX_TEXT_FIELD_BYTES = 64 * 1024


def create_app(
    config: Config | None = None,
    *,
    clock: Callable = utcnow,
    schedule_blob_deletion: Callable[..., None] | None = None,
    schedule_scan: Callable[[str], None] | None = None,
    redis_client: redis.Redis | None = None,
    hourly_counts: HourlyCounts | None = None,
) -> falcon.App:
    """Build the WSGI app from `config` (default: the environment).

    `hourly_counts` collects the counts behind the dashboard's charts; by default they
    stay in memory until its `flush()` (the served app, drop/wsgi.py, passes counts that
    flush themselves every few seconds).
    """
    config = config or Config.from_env()
    init_database(config.effective_database_url, pooled=True)
    storage = open_storage(config)
    storage.ensure_ready()
    # Unfinished tus uploads: on this node's disk, or in the bucket beside the blobs.
    partials = open_partial_uploads(config.data_dir, storage)
    partials.ensure_dir()
    client = _redis_client(config, redis_client)
    if schedule_blob_deletion is None:
        schedule_blob_deletion = _huey_blob_deletion(config, client, storage, clock)
    schedule_blob_deletion = BlobDeletion(schedule_blob_deletion)
    scanning = None
    if config.scanning:
        scanning = UploadScanning(config, schedule_scan or _huey_scan_queue(config, client))

    grants = GrantSigner(ServerKey(config.secret_key, config.data_dir), config.resume_window)

    def names_grant(token: str, if_range: str) -> bool:
        return grants.verify(token, if_range, clock()) is not None

    # First in the list: their process_response runs last and sees the final answer.
    middleware = [RequestId(), RequestMetrics(hourly_counts), TusProtocol()]
    # With Redis, a download this process just served skips the shared cache's lookup;
    # without it the cache is this process's memory, whose lookup costs nothing.
    live = LiveTokens() if client is not None else None
    middleware.append(ErrorCache(client, config.error_cache_ttl, names_grant, live))
    middleware.append(DatabaseConnection(db))
    counters = limits.open_counters(client)
    guesses = limits.GuessLimit(counters, limits.password_backoff(config), clock)
    quota = limits.UploadQuota(
        counters, config.uploads_per_hour, config.upload_bytes_per_hour, clock
    )
    uploading = Uploading(
        config, storage, clock, UploaderCheck(config, quota, counters, clock), scanning
    )

    app = falcon.App(middleware=middleware)
    # The public pages' footer names the abuse contact, when there is one.
    templates = Templates(abuse_contact=config.abuse_contact)
    _answer_errors(app, templates)
    multipart = MultipartFormHandler()
    multipart.parse_options.max_body_part_buffer_size = MAX_TEXT_FIELD_BYTES
    app.req_options.media_handlers[falcon.MEDIA_MULTIPART] = multipart

    files = FileItem(
        config, storage, schedule_blob_deletion, clock, guesses=guesses, grants=grants, live=live
    )
    _add_api_routes(app, uploading, partials, files)
    add_static_routes(app)
    app.add_route("/", HomePage(uploading, templates))
    app.add_route("/uploaded/{upload_id}", UploadedPage(config, templates, clock))
    app.add_route(
        "/d/{token}",
        SharePage(
            config,
            storage,
            templates,
            schedule_blob_deletion,
            clock,
            guesses=guesses,
            grants=grants,
        ),
    )
    app.add_route("/d/{token}/delete", DeletePage(templates, schedule_blob_deletion, clock))
    report_limit = limits.HourlyLimit(counters, "report", REPORTS_PER_HOUR, clock)
    app.add_route("/d/{token}/report", ReportPage(config, templates, report_limit, clock))
    app.add_route("/.well-known/security.txt", SecurityTxt(config, clock))
    add_ops_routes(app, config, storage, clock, redis_client=client, counters=counters)
    _add_health_routes(app, config, storage, client)
    # Last, and below every literal path: `curl -T file https://drop/` (PUT /<name>).
    app.add_route("/{name}", RawUpload(uploading))
    return app


def _add_api_routes(
    app: falcon.App, uploading: Uploading, partials: PartialStore, files: FileItem
) -> None:
    """The JSON API: files, their tus uploads, and its OpenAPI document."""
    app.add_route(f"{API_PREFIX}/file", FileCollection(uploading))
    app.add_route(f"{API_PREFIX}/file/{{token}}", files)
    app.add_route(f"{API_PREFIX}/file/{{token}}/{{filename}}", files, suffix="named")
    app.add_route(f"{API_PREFIX}/openapi.json", OpenAPIDocument(uploading.config))
    tus_server = TusServer(uploading, partials)
    app.add_route(UPLOADS_PATH, UploadCollection(tus_server))
    app.add_route(f"{UPLOADS_PATH}/{{upload_id}}", UploadItem(tus_server))


def _add_health_routes(
    app: falcon.App, config: Config, storage: BlobStorage, client: redis.Redis | None
) -> None:
    """What monitoring asks: /healthz, /readyz and /metrics."""
    app.add_route("/healthz", Liveness())
    app.add_route("/readyz", Readiness(db, storage, client, scanner=Clamd.from_config(config)))
    app.add_route("/metrics", MetricsResource())


def _redis_client(config: Config, given: redis.Redis | None) -> redis.Redis | None:
    """The one client for every Redis call a request makes (cache, queue, /readyz,
    dashboard), behind one breaker: a hung Redis costs a few requests a timeout, then none."""
    if not config.redis_url:
        return None
    return given or redis.Redis(
        connection_pool=guarded_pool(
            config.redis_url, redis_breaker(config.redis_url, config.redis_breaker_seconds)
        )
    )


def _answer_errors(app: falcon.App, templates: Templates) -> None:
    """Every error's answer: one serializer, and each kind of failure mapped to its status."""
    app.set_error_serializer(error_serializer(templates))
    app.add_error_handler(Exception, log_unexpected_error)
    app.add_error_handler(OSError, disk_full_error)  # 507 or 500
    # The database down, locked or out of connections: 503; its disk full: 507.
    app.add_error_handler(UNAVAILABLE_ERRORS, database_unavailable)
    app.add_error_handler(ClientTooSlow, client_too_slow)
    app.add_error_handler(StorageUnavailable, storage_unavailable)
    # The domain's refusals (drop/refusals.py), each answered with its HTTP status.
    app.add_error_handler(Refused, refused)


def _huey_blob_deletion(
    config: Config, client: redis.Redis | None, storage: BlobStorage, clock: Callable
) -> Callable[..., None]:
    """Deletion through the Huey queue, wired at the first deletion rather than at start;
    a local blob due at once is deleted here and now.

    drop.tasks opens the embedded queue's SQLite file when it is imported, and a worker
    must boot and serve downloads even when that cannot be done (a full disk). If it
    fails at a deletion, BlobDeletion logs it and the sweep deletes the blob later.
    """
    schedule = None

    def schedule_deletion(token: str, keep_seconds: int = 0) -> None:
        nonlocal schedule
        if not config.delete_grace_seconds + keep_seconds and storage.kind == LOCAL:
            # Unlinking a file costs less than queueing its deletion, and the embedded
            # queue's consumer polls (up to 10 s apart when idle): gone means gone now.
            drops.delete_blob(storage, token, clock())
            return
        if schedule is None:
            from drop.tasks import build_huey, schedule_blob_deletion

            # With Redis, queue through the app's own pool: short timeouts, the breaker.
            queue = build_huey(config, client.connection_pool).storage if client else None
            schedule = functools.partial(
                schedule_blob_deletion,
                config.data_dir,
                storage=queue,
                s3=task_s3_settings(config),
            )
        schedule(token, delay_seconds=config.delete_grace_seconds + keep_seconds)

    return schedule_deletion


def _huey_scan_queue(config: Config, client: redis.Redis | None) -> Callable[[str], None]:
    """Malware scans through the Huey queue, wired at the first upload (as deletions are)."""
    schedule = None

    def schedule_scan(token: str) -> None:
        nonlocal schedule
        if schedule is None:
            from drop.tasks import build_huey, schedule_scan

            storage = build_huey(config, client.connection_pool).storage if client else None
            schedule = functools.partial(schedule_scan, config=config, storage=storage)
        schedule(token)

    return schedule_scan
