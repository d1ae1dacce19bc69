"""Prometheus metrics: what drop counts, defined once for every layer that counts.

The web layer counts requests and serves /metrics (drop/web/metrics.py); storage and the
tasks count here too. Under gunicorn every worker counts in its own process; with
PROMETHEUS_MULTIPROC_DIR set (drop.runtime.multiprocess) /metrics adds up all of them.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
)

REGISTRY = CollectorRegistry()
UPLOADS = Counter("drop_uploads", "Files uploaded.", registry=REGISTRY)
DOWNLOADS = Counter("drop_downloads", "Downloads granted.", registry=REGISTRY)
BYTES_IN = Counter("drop_received_bytes", "Bytes of uploaded files stored.", registry=REGISTRY)
BYTES_OUT = Counter("drop_sent_bytes", "Bytes of files handed out.", registry=REGISTRY)
ERROR_CACHE = Counter(
    "drop_error_cache",
    "4XX answers served from the 4XX cache (hit) or computed and stored (miss).",
    ["result"],
    registry=REGISTRY,
)
BLOCKED_UPLOADS = Counter(
    "drop_blocked_uploads",
    "Uploads refused by a block, by kind: address (before the body) or content (after).",
    ["kind"],
    registry=REGISTRY,
)
LEGAL_REFUSALS = Counter(
    "drop_unavailable_for_legal_reasons",
    "Requests for a drop answered 451: its content is blocked.",
    registry=REGISTRY,
)
TASK_FAILURES = Counter(
    "drop_task_failures", "Background task runs that raised.", ["task"], registry=REGISTRY
)
SCANS = Counter(
    "drop_scans",
    "Malware scans of stored files by result: clean, infected, too_large (never sent to "
    "clamd), error (clamd unreachable or failing; the scan is retried).",
    ["result"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "drop_request_duration_seconds",
    "Time from a request's arrival to its response headers (a body may still stream).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
STORAGE_LATENCY = Histogram(
    "drop_storage_request_duration_seconds",
    "Time of each request to the object store (DROP_STORAGE=s3), by operation.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
STORAGE_ERRORS = Counter(
    "drop_storage_errors",
    "Requests to the object store that failed (unreachable, refused, timed out), by operation.",
    ["operation"],
    registry=REGISTRY,
)
