"""Real nginx for the tests: ops/nginx.conf filled in, run unprivileged-style in a tmp dir.

Also a holding relay between nginx and gunicorn, the "slow path" that makes the race
between a proxy opening a blob and the deletion task deterministic.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from drop.ops.nginx_conf import render_nginx_conf
from tests.support.common import free_port, wait_for_http, wait_until
from tests.support.tcp_listener import ThreadedListener, pipe

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")
# A line of the site's `drop_private` access log (ops/nginx.conf): combined's layout with
# the path for the request line, then the request id and the time taken.
_ACCESS_LINE = re.compile(
    r'(?P<address>\S+) - - \[(?P<time>[^\]]+)\] "(?P<method>\S*) (?P<path>.*) (?P<protocol>\S*)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+) "-" "(?P<user_agent>.*)" (?P<request_id>\S+) '
    r"(?P<seconds>[\d.]+)"
)


class Nginx:
    """nginx serving ops/nginx.conf (filled with `values`) on a free 127.0.0.1 port.

    The main context (pid, logs, temp paths) is the test's own, in `workdir`; the site
    file is the one an operator installs, unchanged but for its placeholders. Like Debian's
    nginx.conf, the http block logs in `combined` format (to `default_access_log`); the
    site's own access log, `access_log`, takes its place for drop's requests.
    """

    access_logs: list[Path] = []  # every access log it wrote, for the suite-wide check

    def __init__(self, workdir: Path, values: dict, worker_connections: int = 128):
        self.workdir = Path(workdir)
        self.worker_connections = worker_connections
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.error_log = self.workdir / "error.log"
        self.access_log = self.workdir / "drop.access.log"
        self.default_access_log = self.workdir / "access.log"
        self.values = dict(
            values,
            DROP_LISTEN=f"127.0.0.1:{self.port}",
            DROP_SERVER_NAME="_",
            DROP_ACCESS_LOG=str(self.access_log),
        )
        self.process: subprocess.Popen | None = None
        # A site file made elsewhere (an installed `drop-ops nginx-conf`) instead of `values`.
        self.site: str | None = None

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        site = self.workdir / "drop.conf"
        site.write_text(self.site or render_nginx_conf(self.values))
        temp = {name: self.workdir / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir(exist_ok=True)
        # As root, nginx would hand its workers to `nobody`, who cannot read pytest's
        # tmp dirs; an unprivileged run ignores the directive.
        user = "user root;" if os.geteuid() == 0 else ""
        main = self.workdir / "nginx.conf"
        main.write_text(
            f"""
{user}
worker_processes 1;
pid {self.workdir / "nginx.pid"};
error_log {self.error_log} info;
events {{ worker_connections {self.worker_connections}; }}
http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    access_log {self.default_access_log};
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""
        )
        return main

    def __enter__(self) -> Nginx:
        main = self.write_config()
        check = subprocess.run(
            [NGINX, "-t", "-q", "-c", str(main), "-p", str(self.workdir)],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        Nginx.access_logs += [self.access_log, self.default_access_log]
        self.process = subprocess.Popen(
            [NGINX, "-c", str(main), "-p", str(self.workdir), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "stderr.log", "wb"),
        )
        try:
            self.wait_until_serving()
        except BaseException:
            self.__exit__()  # an nginx that never answered must not outlive the test
            raise
        return self

    def wait_until_serving(self) -> None:
        wait_for_http(self.url + "/healthz")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def access_entries(self) -> list[dict]:
        """The site's access log, a dict per line (`path` is $uri with tokens cut short)."""
        entries = []
        for line in self.access_log.read_text().splitlines():
            match = _ACCESS_LINE.fullmatch(line)
            assert match, f"not a drop_private line: {line!r}"
            entries.append(match.groupdict())
        return entries


class HoldingRelay(ThreadedListener):
    """A TCP relay from nginx to gunicorn that holds back X-Accel-Redirect answers.

    When gunicorn's answer names a blob for nginx to send, the relay passes it on only
    once `release()` returns (it is called in the relay's thread and may wait): the
    test decides what has happened to the blob before nginx gets to open it.
    """

    def __init__(self, upstream_port: int, release: Callable[[], object]):
        super().__init__()
        self.upstream = ("127.0.0.1", upstream_port)
        self.release = release
        self.held = 0

    def serve(self, client: socket.socket):
        with client, socket.create_connection(self.upstream) as server:
            threading.Thread(target=pipe, args=(client, server), daemon=True).start()
            first = True
            while chunk := server.recv(65536):
                if first and b"\r\nx-accel-redirect:" in chunk.lower():
                    self.held += 1
                    self.release()
                first = False
                client.sendall(chunk)


def wait_for_file_gone(path: Path, timeout: float = 30.0) -> bool:
    return wait_until(lambda: not path.exists(), timeout=timeout)
