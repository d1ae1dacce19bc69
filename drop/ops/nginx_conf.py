"""Fills in ops/nginx.conf (drop.bundled): the site file that puts nginx in front of drop."""

from __future__ import annotations

import re
import shutil
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from drop import bundled
from drop.config import Config
from drop.drops.uploads import MULTIPART_OVERHEAD_BYTES

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


# Where certbot's --webroot writes HTTP-01 challenges for the plain-HTTP server to serve.
ACME_ROOT = "/var/www/letsencrypt"
# `http2 on;` replaced `listen ... http2` in nginx 1.25.1.
HTTP2_DIRECTIVE_SINCE = (1, 25, 1)


@dataclass(frozen=True)
class TlsSite:
    """HTTPS for the site: where it listens, its certificate and key, and HTTP/2.

    `http2`: "directive" (`http2 on;`, nginx 1.25.1+), "listen" (`listen ... ssl http2`,
    older nginx) or None (an nginx without HTTP/2); `nginx_http2()` says which.
    """

    certificate: str
    certificate_key: str
    listen: str = "443"
    acme_root: str = ACME_ROOT
    http2: str | None = None


def nginx_http2(nginx: str | None = None) -> str | None:
    """How the installed nginx turns HTTP/2 on: "directive", "listen", or None when it
    has no HTTP/2 module or no nginx is installed here (plain HTTP/1.1 over TLS then)."""
    binary = nginx or shutil.which("nginx") or "/usr/sbin/nginx"
    try:
        built = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    # nginx -V writes to stderr: "nginx version: nginx/1.22.1 ... --with-http_v2_module".
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", built.stderr)
    if not found or "--with-http_v2_module" not in built.stderr:
        return None
    version = tuple(int(part) for part in found.groups())
    return "directive" if version >= HTTP2_DIRECTIVE_SINCE else "listen"


def nginx_values(
    config: Config,
    *,
    listen: str,
    server_name: str,
    upstream: str,
    access_log: str = ACCESS_LOG,
    max_upload_bytes: int | None = None,
    tls: TlsSite | None = None,
) -> dict:
    """The placeholders' values for a drop running with `config` behind nginx.

    `max_upload_bytes`: the largest file nginx lets through when API tokens allow more
    than DROP_MAX_UPLOAD_BYTES (never less). drop itself still holds each upload to its
    own limit, the anonymous one or its token's, before and while the body is read.

    `tls`: serve HTTPS on `tls.listen`; `listen` then redirects to it.
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
    if tls is not None:
        values.update(_tls_values(tls))
    return values


def _tls_values(tls: TlsSite) -> dict:
    port = tls.listen.rpartition(":")[2]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--tls-listen must be a port or address:port, got {tls.listen!r}")
    return {
        "DROP_TLS": "on",
        "DROP_TLS_LISTEN": tls.listen,
        "DROP_TLS_LISTEN_OPTIONS": "ssl http2" if tls.http2 == "listen" else "ssl",
        "DROP_HTTP2": "on" if tls.http2 == "directive" else "",
        "DROP_TLS_CERTIFICATE": tls.certificate,
        "DROP_TLS_CERTIFICATE_KEY": tls.certificate_key,
        # $host has no port: a redirect to another port than 443 names it.
        "DROP_HTTPS_ORIGIN": "https://$host" + ("" if port == "443" else f":{port}"),
        "DROP_ACME_ROOT": tls.acme_root,
    }


def _aws_endpoint(config: Config) -> str:
    # What boto3 signs for AWS itself, path style.
    return f"https://s3.{config.s3_region or 'us-east-1'}.amazonaws.com"


def render_nginx_conf(values: dict, template: Path | None = None) -> str:
    """The template with every placeholder filled; KeyError names one that has no value.

    The blob location is the file one (#local-begin … #local-end) or, for
    DROP_STORAGE=s3, the proxy to the object store (the lines marked `#s3 `). With
    DROP_TLS, the lines marked `#tls ` (and `#http2 ` with DROP_HTTP2) replace the
    #plain-begin … #plain-end block.
    """
    tls = bool(values.get("DROP_TLS"))
    variants = {
        "local": values.get("DROP_STORAGE", "local") != "s3",
        "s3": values.get("DROP_STORAGE", "local") == "s3",
        "plain": not tls,
        "tls": tls,
        "http2": tls and bool(values.get("DROP_HTTP2")),
    }
    template = template or bundled.file("ops", "nginx.conf")
    return NginxTemplate(_variant(template.read_text(), variants)).substitute(values)


# `#name-begin` … `#name-end` blocks, and `#name ` line prefixes (they may be stacked:
# `#s3 #tls `), for the variants `_variant` knows.
_MARK = re.compile(r"#(local|s3|plain|tls|http2)(-begin|-end| |$)")


def _variant(text: str, variants: dict[str, bool]) -> str:
    """The template's lines for one variant: a marked line or block is kept (unmarked)
    when its variant is on, and left out when it is off."""
    lines = []
    outside = []  # the blocks being left out
    for line in text.splitlines(keepends=True):
        mark = _MARK.match(line)
        if mark and mark[2] in ("-begin", "-end"):
            if not variants[mark[1]]:
                if mark[2] == "-begin":
                    outside.append(mark[1])
                else:
                    outside.remove(mark[1])
            continue
        while mark and variants[mark[1]]:
            line = line[mark.end() :] or "\n"
            mark = _MARK.match(line)
        if not mark and not outside:
            lines.append(line)
    return "".join(lines)
