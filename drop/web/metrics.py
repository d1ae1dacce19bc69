"""The metrics middleware that counts every request, and GET /metrics.

What is counted is defined in drop/runtime/metrics.py. Live drops and stored bytes are read
from the database at scrape time instead.
"""

from __future__ import annotations

import logging
import os
import time

import falcon
import peewee
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from drop.clock import utcnow
from drop.db.models import LIVE, Drop, db
from drop.ops import hourly_counts
from drop.ops.hourly_counts import HourlyCounts
from drop.runtime.metrics import (
    BLOCKED_UPLOADS,
    BYTES_IN,
    BYTES_OUT,
    DOWNLOADS,
    ERROR_CACHE,
    LATENCY,
    LEGAL_REFUSALS,
    REGISTRY,
    UPLOADS,
)
from drop.runtime.multiprocess import ENV as MULTIPROC_ENV
from drop.web.error_cache import CACHE_HEADER

log = logging.getLogger(__name__)

# Clients choose the method; only these become label values.
METHODS = {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"}


class RequestMetrics:
    """Falcon middleware: latency of every request, 4XX cache results, uploads, downloads,
    uploads refused by a block and 451 answers.

    Uploads and downloads are counted from `req.context.uploaded` and `.downloaded`, which
    the shared upload and download code sets once a drop is stored or a download claimed.
    The same, with 4XX and blocked answers, go to `hourly` for the dashboard's charts
    (in memory here; drop.ops.hourly_counts writes them out).
    """

    def __init__(self, hourly: HourlyCounts | None = None):
        self._hourly = hourly or HourlyCounts()

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        method = req.method if req.method in METHODS else "other"
        # The route template, not the path: tokens must not become label values.
        route = req.uri_template or "unrouted"
        started = getattr(req.context, "started", None)  # None: refused before middleware ran
        if started is not None:
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
        cache = resp.get_header(CACHE_HEADER)
        if cache in ("hit", "miss"):
            ERROR_CACHE.labels(cache).inc()
        hourly = self._hourly
        uploaded = getattr(req.context, "uploaded", None)
        if uploaded is not None:
            UPLOADS.inc()
            BYTES_IN.inc(uploaded.size)
            hourly.add(hourly_counts.UPLOADS)
            hourly.add(hourly_counts.BYTES_IN, uploaded.size)
        blocked = getattr(req.context, "blocked_upload", None)
        if blocked is not None:
            BLOCKED_UPLOADS.labels(blocked).inc()
        if resp.status_code == 451:
            LEGAL_REFUSALS.inc()
        downloaded = getattr(req.context, "downloaded", None)
        if downloaded is not None:
            DOWNLOADS.inc()
            BYTES_OUT.inc(downloaded.size)
            hourly.add(hourly_counts.DOWNLOADS)
            hourly.add(hourly_counts.BYTES_OUT, downloaded.size)
        # A resumed download is no new download; only its range is sent.
        resumed_bytes = getattr(req.context, "resumed_bytes", None)
        if resumed_bytes is not None:
            BYTES_OUT.inc(resumed_bytes)
            hourly.add(hourly_counts.BYTES_OUT, resumed_bytes)
        status = resp.status_code
        if 400 <= status < 500:
            hourly.add(hourly_counts.ANSWERS_4XX)
        # 451 is only ever a block's answer (content blocked for legal reasons); a refused
        # upload is marked by protection.blocks (blocked_upload) or hourly_counts.count_blocked.
        if status == 451 or blocked is not None or getattr(req.context, "blocked", False):
            hourly.add(hourly_counts.BLOCKED)


class StoreCollector:
    """Live drops and the bytes they hold, counted in the database when scraped."""

    def collect(self):
        try:
            with db.connection_context():
                count, size = (
                    Drop.select(
                        peewee.fn.COUNT(Drop.id), peewee.fn.COALESCE(peewee.fn.SUM(Drop.size), 0)
                    )
                    .where((Drop.status == LIVE) & (Drop.expires_at > utcnow()))
                    .tuples()
                    .get()
                )
        except (peewee.DatabaseError, peewee.InterfaceError) as error:
            log.warning("metrics: live drops not counted, database unreachable: %s", error)
            return
        yield GaugeMetricFamily("drop_live_drops", "Drops that can still be downloaded.", count)
        yield GaugeMetricFamily(
            "drop_stored_bytes", "Bytes of the files of live drops.", int(size or 0)
        )


_STORE = CollectorRegistry()
_STORE.register(StoreCollector())


class MetricsResource:
    """GET /metrics: Prometheus text format."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = exposition()


def exposition() -> bytes:
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    return counted + generate_latest(_STORE)
