"""Gunicorn settings for drop. Everything can be overridden with GUNICORN_CMD_ARGS."""

import multiprocessing
import os
import sys

from drop.config import Config, ConfigError

# Check the configuration once in the master: a bad value stops start-up with one line,
# not a traceback from every worker.
try:
    Config.from_env()
except ConfigError as error:
    sys.exit(f"drop: {error}")

bind = os.environ.get("DROP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("DROP_WEB_WORKERS") or multiprocessing.cpu_count() * 2 + 1)

# Uploads of many megabytes on slow links take minutes; a worker busy receiving them
# must not be killed as stuck.
timeout = 300
graceful_timeout = 60
keepalive = 5

accesslog = "-"
# %(U)s is the path without its query string: passwords travel in ?password= for
# compatibility with the seed's API, and must never reach a log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# Only a proxy on these addresses may set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("DROP_TRUSTED_PROXIES", "127.0.0.1,::1")

# Gunicorn 24+ opens a control socket at one fixed path per user; several drop
# instances on one machine (or a test suite) would fight over it, and drop needs none.
control_socket_disable = True
