"""The processes the benchmark measures: gunicorn (drop or the bare app) and nginx.

Every one listens on a free port of 127.0.0.1 and keeps its files, logs and pid in a
work directory of its own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "ops" / "gunicorn.conf.py"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")
# The web server's own settings (DROP_WEB_WORKERS, ...) are the conf file's to read; the
# rest of drop's settings in the caller's shell stay out.
KEPT_PREFIX = "DROP_WEB_"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout:.0f}s")


def server_env(**settings: str) -> dict[str, str]:
    """The caller's environment without drop's settings (but the web server's), plus these."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DROP_") or key.startswith(KEPT_PREFIX)
    }
    env.update(settings)
    return env


def gunicorn_settings(env: dict[str, str]) -> dict[str, str]:
    """What ops/gunicorn.conf.py resolves to under `env`, as gunicorn itself prints it."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(GUNICORN_CONF),
            "--print-config",
            "drop.wsgi:app",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    settings = {}
    for line in done.stdout.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            settings[name.strip()] = value.strip()
    return settings


class Gunicorn:
    """gunicorn with ops/gunicorn.conf.py serving the WSGI `target`, as `drop-ops serve` does."""

    def __init__(
        self, name: str, target: str, env: dict[str, str], workdir: Path, root: Path = ROOT
    ):
        self.name = name
        self.target = target
        self.root = root  # the checkout whose code and ops/gunicorn.conf.py it runs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(env, DROP_BIND=f"127.0.0.1:{self.port}")
        self.workdir = workdir
        self.log = workdir / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def start(self, ready_path: str) -> None:
        conf = self.root / GUNICORN_CONF.relative_to(ROOT)
        command = [sys.executable, "-m", "gunicorn", "-c", str(conf), self.target]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=self.root, stdout=log, stderr=log
            )
        try:
            wait_for_http(self.url + ready_path)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def worker_pids(self) -> list[int]:
        master = self.process.pid
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except FileNotFoundError:
            return []
        return [int(pid) for pid in children]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class RssSampler:
    """Samples the resident memory of a gunicorn's workers while the block runs.

    `peak_one_kib`: the most any one worker held; `peak_all_kib`: the most all of them
    held together at one sample.
    """

    def __init__(self, server: Gunicorn | None, interval: float = 0.1):
        self._server = server
        self._interval = interval
        self._stop = threading.Event()
        self.peak_one_kib = 0
        self.peak_all_kib = 0

    def _sample(self) -> None:
        sizes = [rss_kib(pid) for pid in self._server.worker_pids()]
        if sizes:
            self.peak_one_kib = max(self.peak_one_kib, max(sizes))
            self.peak_all_kib = max(self.peak_all_kib, sum(sizes))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        if self._server is not None:
            self._sample()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._stop.set()
            self._thread.join()
            self._sample()

    def figures(self) -> dict[str, int]:
        if self._server is None:
            return {}
        return {"one_worker": self.peak_one_kib, "all_workers": self.peak_all_kib}


class StaticNginx:
    """nginx serving `files_dir` at /files/ and a JSON 404 for every other path."""

    name = "nginx"

    def __init__(self, files_dir: Path, workdir: Path):
        self.files_dir = files_dir
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def write_config(self) -> Path:
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        # As root, nginx would hand its workers to `nobody`, who cannot read a private
        # temp dir; an unprivileged run ignores the directive.
        user = "user root;" if os.geteuid() == 0 else ""
        config = self.workdir / "nginx.conf"
        config.write_text(
            f"""
{user}
worker_processes auto;
pid {self.workdir / "nginx.pid"};
error_log {self.workdir / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {self.workdir / "body"};
    proxy_temp_path {self.workdir / "proxy"};
    fastcgi_temp_path {self.workdir / "fastcgi"};
    uwsgi_temp_path {self.workdir / "uwsgi"};
    scgi_temp_path {self.workdir / "scgi"};
    server {{
        listen 127.0.0.1:{self.port};
        location /files/ {{
            alias {self.files_dir}/;
        }}
        location / {{
            default_type application/json;
            return 404 '{{"error": "Not Found"}}';
        }}
    }}
}}
"""
        )
        return config

    def start(self, ready_path: str) -> None:
        config = self.write_config()
        check = subprocess.run(
            [NGINX, "-t", "-q", "-c", str(config), "-p", str(self.workdir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused its config: {check.stderr}")
        self.process = subprocess.Popen(
            [NGINX, "-c", str(config), "-p", str(self.workdir), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "stderr.log", "wb"),  # noqa: SIM115 - nginx holds it
        )
        try:
            wait_for_http(self.url + ready_path)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
