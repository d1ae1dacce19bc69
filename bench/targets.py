"""What is measured: drop on SQLite, drop on PostgreSQL + Redis, the bare app, nginx.

Each target is a running server plus what the scenarios ask of it: the paths to
download, a path to answer 404 for, where to upload. drop's drops are made through its
own API before the first round, with a download limit high enough that every download
in the run is a real claim.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from urllib3 import encode_multipart_formdata

from bench.servers import ROOT, Gunicorn, StaticNginx, server_env

API = "/api/v1.0/file"
SMALL = 1024
LARGE = 16 * 1024 * 1024
# Enough distinct drops that concurrent claims seldom wait on one row's lock.
SMALL_DROPS = 256
LARGE_DROPS = 4
MAX_DOWNLOADS = 1_000_000
# Has a token's shape, so it reaches the database (or the cache), but no drop has it.
UNKNOWN_TOKEN = "0bad" * 8
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/drop_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Fixtures:
    """The files and bodies every target gets: same bytes for drop, bare and nginx."""

    workdir: Path
    small: bytes = field(default_factory=lambda: os.urandom(SMALL))
    large: bytes = field(default_factory=lambda: os.urandom(LARGE))

    def __post_init__(self):
        self.files = self.workdir / "files"
        self.files.mkdir(parents=True)
        (self.files / "1k.bin").write_bytes(self.small)
        (self.files / "16m.bin").write_bytes(self.large)
        self.small_body, self.content_type = multipart_body(self.small, "1k.bin")
        self.small_body_file = self.workdir / "upload-1k.body"
        self.small_body_file.write_bytes(self.small_body)
        self.large_body, self.large_content_type = multipart_body(self.large, "16m.bin")

    def path_file(self, name: str, paths: list[str]) -> Path:
        target = self.workdir / name
        target.write_text("\n".join(paths) + "\n")
        return target


def multipart_body(content: bytes, filename: str) -> tuple[bytes, str]:
    return encode_multipart_formdata([("file", (filename, content, "application/octet-stream"))])


@dataclass
class Target:
    """A running server and the requests each scenario sends it."""

    name: str
    server: Gunicorn | StaticNginx
    small_paths: Path
    large_paths: Path
    cached_404_paths: Path
    unique_404_prefix: str
    upload_path: str | None  # None: the target takes no uploads (nginx)
    is_drop: bool = False
    has_error_cache: bool = False

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def gunicorn(self) -> Gunicorn | None:
        return self.server if isinstance(self.server, Gunicorn) else None

    def stop(self) -> None:
        self.server.stop()


def start_drop(backend: str, fixtures: Fixtures, workdir: Path, root: Path = ROOT) -> Target:
    """drop on `sqlite` (the embedded default) or `pg` (PostgreSQL + Redis), with its drops.

    `root`: the checkout whose code runs (bench/ab.py starts another revision's).
    """
    workdir.mkdir(parents=True)
    settings = {
        "DROP_DATA_DIR": str(workdir / "data"),
        "DROP_MAX_DOWNLOADS": str(MAX_DOWNLOADS),
        "DROP_LOG_FORMAT": "text",
        # Every request comes from 127.0.0.1: the hourly upload quota stays on (its
        # counting is part of an upload's cost) but with limits no run can reach.
        "DROP_UPLOADS_PER_HOUR": str(10**9),
        "DROP_UPLOAD_BYTES_PER_HOUR": str(10**15),
    }
    if backend == "pg":
        reset_postgres(DATABASE_URL)
        reset_redis(REDIS_URL)
        settings.update(DROP_DATABASE_URL=DATABASE_URL, DROP_REDIS_URL=REDIS_URL)
    if root != ROOT:
        # Ahead of this checkout's editable install: the other revision's `drop` is imported.
        settings["PYTHONPATH"] = str(root)
    env = server_env(**settings)
    subprocess.run(
        [sys.executable, "-m", "drop.cli", "migrate"],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = Gunicorn(f"drop-{backend}", "drop.wsgi:app", env, workdir, root)
    server.start("/healthz")
    try:
        small = make_drops(server.url, fixtures.small, "1k.bin", SMALL_DROPS)
        large = make_drops(server.url, fixtures.large, "16m.bin", LARGE_DROPS)
    except BaseException:
        server.stop()
        raise
    return Target(
        name=f"drop-{backend}",
        server=server,
        small_paths=fixtures.path_file(f"{backend}-1k.paths", [f"{API}/{t}" for t in small]),
        large_paths=fixtures.path_file(f"{backend}-16m.paths", [f"{API}/{t}" for t in large]),
        cached_404_paths=fixtures.path_file("cached-404.paths", [f"{API}/{UNKNOWN_TOKEN}"]),
        unique_404_prefix=f"{API}/",
        upload_path=API,
        is_drop=True,
        # In Redis with PostgreSQL; in each worker's memory on the embedded default.
        has_error_cache=True,
    )


def start_bare(fixtures: Fixtures, workdir: Path) -> Target:
    """The bare WSGI app on the same gunicorn conf, serving the same files."""
    workdir.mkdir(parents=True)
    env = server_env(
        DROP_DATA_DIR=str(workdir / "data"),
        BENCH_BARE_FILES=str(fixtures.files),
        BENCH_BARE_UPLOADS=str(workdir / "uploads"),
    )
    server = Gunicorn("bare", "bench.bare_app:app_from_env()", env, workdir)
    server.start("/files/1k.bin")
    return static_target("bare", server, fixtures, upload_path=API)


def start_nginx(fixtures: Fixtures, workdir: Path) -> Target:
    workdir.mkdir(parents=True)
    server = StaticNginx(fixtures.files, workdir)
    server.start("/files/1k.bin")
    return static_target("nginx", server, fixtures, upload_path=None)


def static_target(name, server, fixtures: Fixtures, upload_path: str | None) -> Target:
    return Target(
        name=name,
        server=server,
        small_paths=fixtures.path_file("static-1k.paths", ["/files/1k.bin"]),
        large_paths=fixtures.path_file("static-16m.paths", ["/files/16m.bin"]),
        cached_404_paths=fixtures.path_file("cached-404.paths", [f"{API}/{UNKNOWN_TOKEN}"]),
        unique_404_prefix=f"{API}/",
        upload_path=upload_path,
    )


def make_drops(url: str, content: bytes, filename: str, count: int) -> list[str]:
    def one(_: int) -> str:
        made = requests.put(
            url + API,
            files={"file": (filename, content)},
            data={"max_downloads": str(MAX_DOWNLOADS)},
            timeout=60,
        )
        if made.status_code != 201:
            raise RuntimeError(f"drop refused a setup upload: {made.status_code} {made.text}")
        return made.json()["token"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def check_target(target: Target, fixtures: Fixtures) -> None:
    """Each scenario's request answered once, checked: a benchmark of wrong answers is void."""
    for paths, content in (
        (target.small_paths, fixtures.small),
        (target.large_paths, fixtures.large),
    ):
        path = first_line(paths)
        got = requests.get(target.url + path, timeout=60)
        expect(target, got.status_code == 200 and got.content == content, f"GET {path}", got)
    unique = requests.get(f"{target.url}{target.unique_404_prefix}{'1a2b' * 8}", timeout=10)
    expect(target, unique.status_code == 404 and "error" in unique.json(), "404 JSON", unique)
    cached_path = first_line(target.cached_404_paths)
    requests.get(target.url + cached_path, timeout=10)
    # Without Redis each worker process caches what it answered itself: a repeat hits
    # once it reaches a worker that has seen the path before.
    for _ in range(20):
        again = requests.get(target.url + cached_path, timeout=10)
        if again.headers.get("X-Drop-Cache") != "miss":
            break
    expect(target, again.status_code == 404, "repeated 404", again)
    if target.has_error_cache:
        expect(target, unique.headers.get("X-Drop-Cache") == "miss", "uncached 404 misses", unique)
        expect(target, again.headers.get("X-Drop-Cache") == "hit", "repeated 404 hits", again)
    if target.upload_path:
        made = requests.put(
            target.url + target.upload_path,
            data=fixtures.small_body,
            headers={"Content-Type": fixtures.content_type},
            timeout=60,
        )
        expect(target, made.status_code == 201, "1 KiB upload", made)


def first_line(path: Path) -> str:
    return path.read_text().split()[0]


def expect(target: Target, ok: bool, what: str, answer: requests.Response) -> None:
    if not ok:
        raise RuntimeError(
            f"{target.name}: {what} answered {answer.status_code} {answer.text[:200]!r}"
        )


def reset_postgres(url: str) -> None:
    """Drop and create the benchmark's own database (refused unless local and named *bench*)."""
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.hostname not in LOOPBACK or "bench" not in name:
        raise SystemExit(f"BENCH_DATABASE_URL must be a local database named *bench*: {url}")
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def reset_redis(url: str) -> None:
    """Empty the benchmark's own Redis database (refused unless local)."""
    import redis

    if urlsplit(url).hostname not in LOOPBACK:
        raise SystemExit(f"BENCH_REDIS_URL must be local: {url}")
    redis.Redis.from_url(url).flushdb()


def drop_counts(target: Target) -> dict[str, float] | None:
    """drop's counters from /metrics, added up over every worker; None for other targets.

    downloads, uploads, cache_hit, cache_miss: whichever /metrics has.
    """
    if not target.is_drop:
        return None
    text = requests.get(target.url + "/metrics", timeout=10).text
    counts = {}
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == "drop_downloads_total":
            counts["downloads"] = float(value)
        elif sample == "drop_uploads_total":
            counts["uploads"] = float(value)
        elif sample.startswith("drop_error_cache_total{"):
            result = sample.split('result="', 1)[1].split('"', 1)[0]
            counts[f"cache_{result}"] = float(value)
    return counts
