"""Fills in ops/nginx.conf: the site file that puts nginx in front of drop."""

from __future__ import annotations

import string
from pathlib import Path

from drop.config import Config
from drop.static import HTMX_DIR, ROOT, STATIC_DIR
from drop.uploads import MULTIPART_OVERHEAD_BYTES

TEMPLATE = ROOT / "ops" / "nginx.conf"
ACCESS_LOG = "/var/log/nginx/drop.access.log"


class NginxTemplate(string.Template):
    """Only ${DROP_*} placeholders are ours; nginx's own $variables pass through untouched."""

    pattern = r"""
    \$(?:
      (?P<escaped>(?!))
      | (?P<named>(?!))
      | {(?P<braced>DROP_[A-Z0-9_]+)}
      | (?P<invalid>(?!))
    )
    """


def nginx_values(
    config: Config,
    *,
    listen: str,
    server_name: str,
    upstream: str,
    access_log: str = ACCESS_LOG,
    max_upload_bytes: int | None = None,
) -> dict:
    """The placeholders' values for a drop running with `config` behind nginx.

    `max_upload_bytes`: the largest file nginx lets through when API tokens allow more
    than DROP_MAX_UPLOAD_BYTES (never less). drop itself still holds each upload to its
    own limit, the anonymous one or its token's, before and while the body is read.
    """
    if not config.accel_redirect:
        raise ValueError("set DROP_ACCEL_REDIRECT (for example /_drop_blobs): nginx sends blobs")
    largest = max(config.max_upload_bytes, max_upload_bytes or 0)
    return {
        "DROP_LISTEN": listen,
        "DROP_SERVER_NAME": server_name,
        "DROP_UPSTREAM": upstream,
        # A multipart body is the file plus its framing and the small text fields.
        "DROP_CLIENT_MAX_BODY_SIZE": str(largest + MULTIPART_OVERHEAD_BYTES),
        "DROP_MAX_UPLOAD_BYTES": str(largest),
        "DROP_ACCEL_REDIRECT": config.accel_redirect,
        "DROP_BLOB_DIR": str(config.blob_dir.resolve()),
        "DROP_STATIC_DIR": str(STATIC_DIR),
        "DROP_HTMX_DIR": str(HTMX_DIR),
        "DROP_ACCESS_LOG": access_log,
    }


def render_nginx_conf(values: dict, template: Path = TEMPLATE) -> str:
    """The template with every placeholder filled; KeyError names one that has no value."""
    return NginxTemplate(template.read_text()).substitute(values)
