"""Gunicorn settings for drop. Everything can be overridden with GUNICORN_CMD_ARGS."""

import os
import sys

from drop.config import Config, ConfigError
from drop.runtime.allocator import keep_worker_memory_flat
from drop.runtime.logs import configure_logging
from drop.runtime.multiprocess import mark_process_dead, prepare_metrics_dir

# Check the configuration once in the master: a bad value stops start-up with one line,
# not a traceback from every worker. (Not named `config`: gunicorn reads every top-level
# name in this file as one of its settings, and `config` is one.)
try:
    drop_config = Config.from_env()
except ConfigError as error:
    sys.exit(f"drop: {error}")

bind = os.environ.get("DROP_BIND", "127.0.0.1:8000")

# Threads, not one request per process: most of a request's life is waiting on the
# network (uploads arriving, downloads leaving, the database answering), and a thread
# waits for a few KiB of memory where a process costs tens of MiB. drop's worker
# (drop/runtime/serving.py) is gunicorn's gthread worker plus deadlines for slow clients.
worker_class = "drop.runtime.serving.PacedThreadWorker"
# One process per core the server may use runs Python in parallel; the threads of each
# hold the slow clients: a thread sits in a slow upload or a slow request head until
# its deadline, so there must be plenty of them.
workers = int(os.environ.get("DROP_WEB_WORKERS") or max(len(os.sched_getaffinity(0)), 2))
threads = int(os.environ.get("DROP_WEB_THREADS") or 64)
# Idle connections wait in each worker's poller, not in a thread.
worker_connections = 2000

# gthread's main loop keeps answering the master while requests run, so `timeout` only
# catches a worker that is truly stuck; slow requests are bounded by drop/runtime/serving.py's
# progress-based deadlines instead of a wall clock.
timeout = 30
graceful_timeout = 60
# A connection, new or kept alive, is closed after this long without a request byte.
keepalive = 5

accesslog = "-"
# %(U)s is the path without its query string: passwords travel in ?password= for
# compatibility with the seed's API, and must never reach a log. No request header is
# logged but the User-Agent (X-Drop-Password and X-Delete-Token carry secrets).
access_log_format = '%(h)s %({x-request-id}o)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# Both loggers pass every line through drop.runtime.logs.redact: gunicorn's own error lines quote
# the raw request line, query string included.
logger_class = (
    "drop.runtime.logs.JsonAccessLogger"
    if drop_config.log_format == "json"
    else "drop.runtime.logs.RedactingLogger"
)
# drop's own loggers, in the master and (inherited) in every worker.
configure_logging(drop_config.log_format)

# Only a proxy on these addresses may set X-Forwarded-* headers.
forwarded_allow_ips = ",".join(drop_config.trusted_proxies)

# Gunicorn 24+ opens a control socket at one fixed path per user; several drop
# instances on one machine (or a test suite) would fight over it, and drop needs none.
control_socket_disable = True

# /metrics must add up every worker: prometheus-client's multiprocess mode, set up here
# in the master so the workers inherit PROMETHEUS_MULTIPROC_DIR before they import it.
prepare_metrics_dir(drop_config)


def post_fork(server, worker):
    # Before the worker starts its threads: an upload's buffers come from one heap that
    # keeps them for the next, so its peak memory does not creep with the upload's size
    # (drop/runtime/allocator.py).
    keep_worker_memory_flat()


def child_exit(server, worker):
    mark_process_dead(worker.pid)
