"""The TLS site (drop-ops nginx-conf --tls-certificate ...): real nginx with a self-signed
certificate in front of gunicorn and the worker; HTTPS answers, HTTP redirects to it."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import ssl
import subprocess
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from drop.cli import cli
from drop.config import Config
from drop.ops.nginx_conf import TlsSite, nginx_http2, nginx_values, render_nginx_conf
from tests.support.common import UPLOAD, LiveServer, drop_env, free_port, multipart
from tests.support.nginx import NGINX, Nginx

ACCEL = "/_drop_blobs"
HSTS = "max-age=63072000"
# Above nginx's default client_max_body_size (1 MiB), which the redirect must not apply.
MAX_UPLOAD = 2 * 1024 * 1024

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, made by openssl."""
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],  # fmt: skip
        check=True,
        capture_output=True,
    )
    return certificate, key


class TlsNginx(Nginx):
    """nginx serving the TLS site: HTTPS on `tls_port`, the redirect on a port of its own."""

    def __init__(self, workdir: Path, values: dict, tls_port: int, ca: Path):
        super().__init__(workdir, values)
        self.http_url = self.url
        self.tls_port = tls_port
        self.url = f"https://127.0.0.1:{tls_port}"
        self.ca = ca

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(self.url + "/healthz", verify=self.ca, timeout=1)
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def tls_deployment(config, workdir: Path):
    """nginx with the TLS site -> gunicorn, listening on free ports of 127.0.0.1."""
    certificate, key = self_signed_certificate(workdir)
    tls_port = free_port()
    env = dict(DROP_ACCEL_REDIRECT=ACCEL, DROP_MAX_UPLOAD_BYTES=MAX_UPLOAD)
    with ExitStack() as stack:
        server = stack.enter_context(LiveServer(config, **env))
        tls = TlsSite(
            certificate=str(certificate),
            certificate_key=str(key),
            listen=f"127.0.0.1:{tls_port}",
            acme_root=str(workdir / "acme"),
            http2=nginx_http2(NGINX),
        )
        values = nginx_values(
            Config.from_env(server.env),
            listen="-",
            server_name="-",
            upstream=f"127.0.0.1:{server.port}",
            tls=tls,
        )
        yield stack.enter_context(TlsNginx(workdir / "nginx", values, tls_port, certificate))


def test_uploads_and_downloads_go_over_https_and_every_answer_has_hsts(config, tmp_path):
    content = os.urandom(100 * 1024)
    with tls_deployment(config, tmp_path) as nginx:
        body, headers = multipart(content, filename="report.bin")
        made = requests.put(
            nginx.url + UPLOAD, data=body, headers=headers, verify=nginx.ca, timeout=30
        )
        assert made.status_code == 201, made.text
        # nginx told drop the scheme (X-Forwarded-Proto): the link is an https:// one.
        assert made.json()["url"].startswith(nginx.url + "/")

        got = requests.get(made.json()["url"], verify=nginx.ca, timeout=30)
        assert got.status_code == 200
        assert got.content == content
        assert got.headers["X-Content-Type-Options"] == "nosniff"  # the blob location's
        gone = requests.get(made.json()["url"], verify=nginx.ca, timeout=30)
        assert gone.status_code == 410

        page = requests.get(nginx.url + "/", verify=nginx.ca, timeout=10)
        css = requests.get(nginx.url + "/static/drop.css", verify=nginx.ca, timeout=10)
        body, headers = multipart(os.urandom(MAX_UPLOAD + 128 * 1024))
        refused = requests.put(
            nginx.url + UPLOAD, data=body, headers=headers, verify=nginx.ca, timeout=30
        )
    assert page.status_code == 200 and css.status_code == 200
    assert refused.status_code == 413
    assert refused.json()["detail"] == f"files may be at most {MAX_UPLOAD} bytes"
    # drop's answers, nginx's file download (a location with add_header of its own), its
    # static files and its own refusals alike.
    for answer in (made, got, gone, page, css, refused):
        assert answer.headers["Strict-Transport-Security"] == HSTS, answer.url


def test_plain_http_redirects_to_https_but_serves_certbots_challenges(config, tmp_path):
    challenge = tmp_path / "acme" / ".well-known" / "acme-challenge" / "tok-3n"
    challenge.parent.mkdir(parents=True)
    challenge.write_text("tok-3n.thumbprint")
    with tls_deployment(config, tmp_path) as nginx:
        moved = requests.get(nginx.http_url + "/d/abc?x=1", allow_redirects=False, timeout=10)
        body, headers = multipart(os.urandom(MAX_UPLOAD))
        upload = requests.put(
            nginx.http_url + UPLOAD, data=body, headers=headers, allow_redirects=False
        )
        followed = requests.get(nginx.http_url + "/healthz", verify=nginx.ca, timeout=10)
        answer = requests.get(
            nginx.http_url + "/.well-known/acme-challenge/tok-3n", allow_redirects=False
        )
        missing = requests.get(
            nginx.http_url + "/.well-known/acme-challenge/other", allow_redirects=False
        )
    assert moved.status_code == 301
    assert moved.headers["Location"] == f"{nginx.url}/d/abc?x=1"
    # HSTS means nothing over plain HTTP (RFC 6797, 8.1): it is not sent there.
    assert "Strict-Transport-Security" not in moved.headers
    assert followed.status_code == 200 and followed.url == nginx.url + "/healthz"
    assert upload.status_code == 301 and upload.headers["Location"] == nginx.url + UPLOAD
    assert answer.status_code == 200 and answer.text == "tok-3n.thumbprint"
    assert missing.status_code == 404


# The client offers TLS 1.1 only when its own OpenSSL allows it (Debian's security level 2
# forbids it): then the refusal is nginx's.
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_2_and_1_3_only_and_http2_where_nginx_has_it(config, tmp_path):
    def handshake(version: ssl.TLSVersion, alpn=("http/1.1",)) -> tuple[str, str | None]:
        context = ssl.create_default_context(cafile=str(nginx.ca))
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = context.maximum_version = version
        context.set_alpn_protocols(list(alpn))
        with (
            socket.create_connection(("127.0.0.1", nginx.tls_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return tls.version(), tls.selected_alpn_protocol()

    with tls_deployment(config, tmp_path) as nginx:
        assert handshake(ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
        assert handshake(ssl.TLSVersion.TLSv1_2)[0] == "TLSv1.2"
        with pytest.raises(ssl.SSLError) as refused:
            handshake(ssl.TLSVersion.TLSv1_1)
        _, protocol = handshake(ssl.TLSVersion.TLSv1_3, alpn=("h2", "http/1.1"))
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value
    assert protocol == ("h2" if nginx_http2(NGINX) else "http/1.1")


def test_nginx_conf_writes_the_tls_site(config):
    env = drop_env(config, DROP_ACCEL_REDIRECT=ACCEL)
    result = CliRunner().invoke(
        cli,
        [
            "nginx-conf",
            "--server-name",
            "drop.example.org",
            "--tls-certificate",
            "/etc/letsencrypt/live/drop.example.org/fullchain.pem",
            "--tls-certificate-key",
            "/etc/letsencrypt/live/drop.example.org/privkey.pem",
        ],  # fmt: skip
        env=env,
    )
    assert result.exit_code == 0, result.output
    site = result.output
    assert "ssl_certificate /etc/letsencrypt/live/drop.example.org/fullchain.pem;" in site
    assert "ssl_certificate_key /etc/letsencrypt/live/drop.example.org/privkey.pem;" in site
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in site
    assert "listen 443 ssl" in site
    assert "return 301 https://$host$request_uri;" in site
    assert "root /var/www/letsencrypt;" in site
    assert not re.search(r"^#(tls|plain|http2)", site, re.MULTILINE)


def test_without_tls_options_the_site_is_plain_http(config):
    env = drop_env(config, DROP_ACCEL_REDIRECT=ACCEL)
    result = CliRunner().invoke(cli, ["nginx-conf"], env=env)
    assert result.exit_code == 0, result.output
    directives = "\n".join(
        line for line in result.output.splitlines() if not line.lstrip().startswith("#")
    )
    assert "listen 80;" in directives
    for tls_only in ("ssl", "Strict-Transport-Security", "return 301", "acme-challenge"):
        assert tls_only not in directives


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("--tls-certificate", "--tls-certificate-key"),
        ("--tls-certificate-key", "--tls-certificate"),
    ],
)
def test_a_certificate_or_key_alone_is_a_usage_error(config, given, missing):
    env = drop_env(config, DROP_ACCEL_REDIRECT=ACCEL)
    result = CliRunner().invoke(cli, ["nginx-conf", given, "/x.pem"], env=env)
    assert result.exit_code == 2, result.output
    assert f"{missing} is needed with {given}" in result.output


@pytest.mark.parametrize(
    ("http2", "listen", "directive"),
    [
        ("directive", "listen 443 ssl;", True),  # nginx 1.25.1 and later: `http2 on;`
        ("listen", "listen 443 ssl http2;", False),
        (None, "listen 443 ssl;", False),  # an nginx without HTTP/2
    ],
)
def test_http2_is_turned_on_as_the_installed_nginx_expects(config, http2, listen, directive):
    values = nginx_values(
        dataclasses.replace(config, accel_redirect=ACCEL),
        listen="80",
        server_name="_",
        upstream="127.0.0.1:8000",
        tls=TlsSite(certificate="/c.pem", certificate_key="/k.pem", http2=http2),
    )
    site = render_nginx_conf(values)
    assert f"    {listen}\n" in site
    assert ("    http2 on;\n" in site) is directive


def test_a_tls_listen_that_is_no_port_is_refused(config):
    env = drop_env(config, DROP_ACCEL_REDIRECT=ACCEL)
    result = CliRunner().invoke(
        cli,
        [
            "nginx-conf",
            "--tls-certificate",
            "/c.pem",
            "--tls-certificate-key",
            "/k.pem",
            "--tls-listen",
            "127.0.0.1:https",
        ],  # fmt: skip
        env=env,
    )
    assert result.exit_code == 1, result.output
    assert "--tls-listen must be a port or address:port, got '127.0.0.1:https'" in result.output
