"""Mounts the operator dashboard under /ops: its routes, its session guard, its templates."""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Callable

import falcon
import redis

from drop.config import Config
from drop.db.models import MAX_DROP_ID
from drop.ops.session import SessionSigner
from drop.ops.session_store import DatabaseSessionStore
from drop.ops.stats import Stats, collect_stats, queue_length
from drop.ops.trends import week_charts
from drop.protection.limits import Counters, DatabaseCounters, login_limit
from drop.resources.ops.actions import OpsPurge, OpsPurgeProgress, OpsRevoke
from drop.resources.ops.audit import OpsAuditPage, OpsAuditTrail
from drop.resources.ops.auth import OpsGuard, OpsLogin, OpsLogout, OpsSessions
from drop.resources.ops.blocks import OpsBlockCancel, OpsBlockConfirm, OpsBlockRemove, OpsBlocks
from drop.resources.ops.dashboard import OpsCharts, OpsDashboard, OpsDropTable, OpsStatsCards
from drop.resources.ops.edits import (
    DropPanel,
    OpsDropDetail,
    OpsSetDownloadLimit,
    OpsSetExpiry,
    OpsUncountedDownload,
)
from drop.resources.ops.reports import OpsReportAction, OpsReports
from drop.resources.ops.scan import OpsRescan
from drop.resources.ops.tokens import OpsTokenRevoke, OpsTokensPage
from drop.runtime.heartbeat import worker_health
from drop.storage import BlobStorage, task_s3_settings
from drop.web.templates import Templates
from drop.wording import duration, human_bytes


def add_ops_routes(
    app: falcon.App,
    config: Config,
    storage: BlobStorage,
    clock: Callable[[], datetime.datetime],
    *,
    redis_client: redis.Redis | None = None,
    counters: Counters | None = None,
    enqueue_purge: Callable[[], str] | None = None,
    purge_progress: Callable[[str], dict | None] | None = None,
) -> None:
    """Add the dashboard to `app`; without DROP_ADMIN_TOKEN add nothing, so /ops stays 404."""
    if not config.admin_token:
        return
    # Both secrets sign the cookie, so rotating either one ends every session: a new admin
    # token shuts out whoever logged in with a leaked one, even when DROP_SECRET_KEY stays.
    signer = SessionSigner(
        "\0".join(filter(None, (config.secret_key, config.admin_token))),
        config.admin_session_idle,
        config.admin_session_max,
    )
    sessions = OpsSessions(signer, DatabaseSessionStore())
    templates = Templates(
        human_bytes=human_bytes, when=when, duration=duration, scanning=config.scanning
    )
    if enqueue_purge is None or purge_progress is None:
        enqueue_purge, purge_progress = _huey_purge(config, redis_client)
    current_stats = _stats_source(config, storage, clock, redis_client)
    audit_trail = OpsAuditTrail(clock, config.trusted_proxies)

    app.add_middleware(OpsGuard(sessions, clock))
    app.add_route(
        "/ops/login",
        OpsLogin(
            config.admin_token,
            sessions,
            login_limit(counters or DatabaseCounters(), clock),
            templates,
            clock,
            audit_trail,
            trusted_proxies=config.trusted_proxies,
        ),
    )
    app.add_route("/ops/logout", OpsLogout(sessions, audit_trail))

    def current_charts():
        return week_charts(clock())

    app.add_route("/ops", OpsDashboard(templates, current_stats, current_charts))
    app.add_route("/ops/stats", OpsStatsCards(templates, current_stats))
    app.add_route("/ops/charts", OpsCharts(templates, current_charts))
    app.add_route("/ops/drops", OpsDropTable(templates))
    one_drop = f"/ops/drops/{{drop_id:int(min=1, max={MAX_DROP_ID})}}"
    app.add_route(f"{one_drop}/revoke", OpsRevoke(templates, storage, clock, audit_trail))
    panel = DropPanel(templates, storage, config)
    app.add_route(one_drop, OpsDropDetail(panel))
    app.add_route(f"{one_drop}/expiry", OpsSetExpiry(panel, config, clock, audit_trail))
    app.add_route(f"{one_drop}/limit", OpsSetDownloadLimit(panel, config, audit_trail))
    app.add_route(f"{one_drop}/download", OpsUncountedDownload(storage, audit_trail))
    if config.scanning:
        app.add_route(f"{one_drop}/scan", OpsRescan(templates, config, storage, clock, audit_trail))
    app.add_route(
        "/ops/purge", OpsPurge(templates, enqueue_purge, audit_trail, config.purge_retention)
    )
    app.add_route("/ops/purge/{task_id}", OpsPurgeProgress(templates, purge_progress))
    app.add_route("/ops/audit", OpsAuditPage(templates, config.audit_retention))
    app.add_route("/ops/blocks", OpsBlocks(templates, storage, audit_trail))
    app.add_route("/ops/blocks/new", OpsBlockConfirm(templates))
    app.add_route("/ops/blocks/cancel", OpsBlockCancel())
    app.add_route(
        "/ops/blocks/{block_id:int(min=1, max=2147483647)}/remove",
        OpsBlockRemove(templates, audit_trail),
    )
    app.add_route("/ops/reports", OpsReports(templates))
    app.add_route(
        "/ops/reports/{report_id:int(min=1, max=2147483647)}/{action}",
        OpsReportAction(templates, storage, audit_trail),
    )
    app.add_route("/ops/tokens", OpsTokensPage(templates, config))
    app.add_route(
        f"/ops/tokens/{{token_id:int(min=1, max={MAX_DROP_ID})}}/revoke",
        OpsTokenRevoke(templates, config, clock),
    )


def when(moment: datetime.datetime | None) -> str:
    """A database timestamp (naive UTC) as the dashboard shows it."""
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "—"


def _stats_source(
    config: Config, storage: BlobStorage, clock, redis_client: redis.Redis | None
) -> Callable[[], Stats]:
    # Imported here: drop.tasks builds its Huey from the environment at import time.
    from drop.tasks import build_huey

    # Through the app's Redis pool: its short timeouts and breaker keep the cards quick.
    pool = redis_client.connection_pool if redis_client is not None else None
    queue = build_huey(config, connection_pool=pool)

    def current_stats() -> Stats:
        now = clock()
        return collect_stats(
            now,
            queue_length=queue_length(queue),
            worker=worker_health(config.data_dir, now, config.worker_stale_seconds),
        )

    return current_stats


QUEUE_ERRORS = (redis.RedisError, sqlite3.Error)  # Redis-backed or embedded queue
QUEUE_DOWN = "the task queue is not answering; try again shortly"


def _huey_purge(config: Config, redis_client: redis.Redis | None):
    from drop.tasks import build_huey, enqueue, huey, purge_expired, purge_progress_key

    # Through the app's Redis pool (short timeouts, the breaker) rather than the
    # consumer's, unless the tasks run inline (huey.immediate, in the tests).
    queue = huey
    if redis_client is not None:
        queue = build_huey(config, connection_pool=redis_client.connection_pool)

    def enqueue_purge() -> str:
        task = purge_expired.s(
            str(config.data_dir), config.purge_retention, task_s3_settings(config)
        )
        try:
            enqueue(task, queue.storage)
        except QUEUE_ERRORS:
            raise falcon.HTTPServiceUnavailable(description=QUEUE_DOWN) from None
        return task.id

    def progress(task_id: str) -> dict | None:
        source = huey if huey.immediate else queue
        key = purge_progress_key(task_id)
        try:
            state = source.get(key, peek=True)
            if state and state["state"] == "done":
                source.delete(key)  # shown once; the page stops polling with this answer
        except QUEUE_ERRORS:
            raise falcon.HTTPServiceUnavailable(description=QUEUE_DOWN) from None
        return state

    return enqueue_purge, progress
