"""Gunicorn settings for drop. Everything can be overridden with GUNICORN_CMD_ARGS."""

import os
import sys

from drop.config import Config, ConfigError
from drop.logs import configure_logging
from drop.multiprocess import mark_process_dead, prepare_metrics_dir

# Check the configuration once in the master: a bad value stops start-up with one line,
# not a traceback from every worker. (Not named `config`: gunicorn reads every top-level
# name in this file as one of its settings, and `config` is one.)
try:
    drop_config = Config.from_env()
except ConfigError as error:
    sys.exit(f"drop: {error}")

bind = os.environ.get("DROP_BIND", "127.0.0.1:8000")
# Sync workers each hold one request; uploads and downloads mostly wait on the network
# (or on nginx), so two per core the process may use, plus one.
workers = int(os.environ.get("DROP_WEB_WORKERS") or len(os.sched_getaffinity(0)) * 2 + 1)

# Uploads of many megabytes on slow links take minutes; a worker busy receiving them
# must not be killed as stuck.
timeout = 300
graceful_timeout = 60
keepalive = 5

accesslog = "-"
# %(U)s is the path without its query string: passwords travel in ?password= for
# compatibility with the seed's API, and must never reach a log. No request header is
# logged but the User-Agent (X-Drop-Password and X-Delete-Token carry secrets).
access_log_format = '%(h)s %({x-request-id}o)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# Both loggers pass every line through drop.logs.redact: gunicorn's own error lines quote
# the raw request line, query string included.
logger_class = (
    "drop.logs.JsonAccessLogger"
    if drop_config.log_format == "json"
    else "drop.logs.RedactingLogger"
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


def child_exit(server, worker):
    mark_process_dead(worker.pid)
