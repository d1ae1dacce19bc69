"""Fills in ops/nginx.conf (drop.bundled): the site file that puts nginx in front of drop."""

from __future__ import annotations

import string
from pathlib import Path
from urllib.parse import urlsplit

from drop import bundled
from drop.config import Config
from drop.uploads import MULTIPART_OVERHEAD_BYTES

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
    values = {
        "DROP_STORAGE": config.storage,
        "DROP_LISTEN": listen,
        "DROP_SERVER_NAME": server_name,
        "DROP_UPSTREAM": upstream,
        # A multipart body is the file plus its framing and the small text fields.
        "DROP_CLIENT_MAX_BODY_SIZE": str(largest + MULTIPART_OVERHEAD_BYTES),
        "DROP_MAX_UPLOAD_BYTES": str(largest),
        "DROP_ACCEL_REDIRECT": config.accel_redirect,
        "DROP_BLOB_DIR": str(config.blob_dir.resolve()),
        "DROP_STATIC_DIR": str(bundled.directory("assets")),
        "DROP_ACCESS_LOG": access_log,
    }
    if config.storage == "s3":
        endpoint = urlsplit(config.s3_endpoint_url or _aws_endpoint(config))
        values["DROP_S3_ORIGIN"] = f"{endpoint.scheme}://{endpoint.netloc}"
        values["DROP_S3_HOST"] = endpoint.netloc
    return values


def _aws_endpoint(config: Config) -> str:
    # What boto3 signs for AWS itself, path style.
    return f"https://s3.{config.s3_region or 'us-east-1'}.amazonaws.com"


def render_nginx_conf(values: dict, template: Path | None = None) -> str:
    """The template with every placeholder filled; KeyError names one that has no value.

    The blob location is the file one (#local-begin … #local-end) or, for
    DROP_STORAGE=s3, the proxy to the object store (the lines marked `#s3 `).
    """
    template = template or bundled.file("ops", "nginx.conf")
    text = _blob_location(template.read_text(), values.get("DROP_STORAGE", "local"))
    return NginxTemplate(text).substitute(values)


def _blob_location(text: str, storage: str) -> str:
    lines = []
    in_local = False
    for line in text.splitlines(keepends=True):
        if line.startswith("#local-begin"):
            in_local = True
        elif line.startswith("#local-end"):
            in_local = False
        elif line.startswith("#s3 "):
            if storage == "s3":
                lines.append(line[len("#s3 ") :])
        elif not (in_local and storage == "s3"):
            lines.append(line)
    return "".join(lines)
