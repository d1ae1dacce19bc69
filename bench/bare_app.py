"""The benchmark's baseline: the least a WSGI app on drop's gunicorn settings can do.

It does each thing drop's hot paths do, and nothing else, so `drop / bare` measured in
the same run tells how much drop adds on top of gunicorn itself:

- `GET /files/<name>`: a file from BENCH_BARE_FILES, through `wsgi.file_wrapper`
  (gunicorn's sendfile), like a download;
- `PUT` or `POST` to any path: the raw body copied to a new file in BENCH_BARE_UPLOADS
  in 1 MiB reads, then fsync'd, then `201` with a small JSON body, like an upload;
- anything else: `404 {"error": "Not Found"}`, like an unknown token.

With BENCH_BARE_ROUND_TRIPS=N (bench/round_trips.py) every request first makes N round
trips to Redis (a PING each, on a connection of the thread's own): what a request that
waits on a database costs a gunicorn worker, apart from the database's own work.

Serve it as `gunicorn -c ops/gunicorn.conf.py 'bench.bare_app:app_from_env()'`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from pathlib import Path

READ_SIZE = 1024 * 1024
NOT_FOUND = json.dumps({"error": "Not Found"}).encode()


def create_app(files_dir: Path, uploads_dir: Path, round_trips: int = 0, redis_port: int = 6379):
    """A WSGI callable serving `files_dir` and storing bodies in `uploads_dir`, each
    request first making `round_trips` round trips to the Redis on `redis_port`."""
    files_dir = Path(files_dir)
    uploads_dir = Path(uploads_dir)
    pinger = Pinger(redis_port) if round_trips else None

    def app(environ, start_response):
        for _ in range(round_trips):
            pinger.ping()
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if method in ("PUT", "POST"):
            return store_body(environ, start_response, uploads_dir)
        if method == "GET" and path.startswith("/files/"):
            name = path.removeprefix("/files/")
            if "/" not in name and name not in ("", ".", ".."):
                try:
                    blob = open(files_dir / name, "rb")  # noqa: SIM115 - the server closes it
                except FileNotFoundError:
                    pass
                else:
                    size = os.fstat(blob.fileno()).st_size
                    headers = [
                        ("Content-Type", "application/octet-stream"),
                        ("Content-Length", str(size)),
                    ]
                    start_response("200 OK", headers)
                    return environ["wsgi.file_wrapper"](blob, READ_SIZE)
        return answer(start_response, "404 Not Found", NOT_FOUND)

    return app


class Pinger:
    """A Redis PING from each thread, on a connection of its own."""

    def __init__(self, port: int):
        self._port = port
        self._local = threading.local()

    def ping(self) -> None:
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = self._local.sock = socket.create_connection(("127.0.0.1", self._port))
        sock.sendall(b"PING\r\n")
        if sock.recv(64) != b"+PONG\r\n":
            raise RuntimeError("Redis did not answer PONG")


def store_body(environ, start_response, uploads_dir: Path):
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    target = uploads_dir / uuid.uuid4().hex
    with open(target, "wb") as out:
        while remaining > 0:
            chunk = stream.read(min(READ_SIZE, remaining))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if remaining:
        target.unlink()
        return answer(start_response, "400 Bad Request", b'{"error": "Bad Request"}')
    return answer(start_response, "201 Created", json.dumps({"stored": target.name}).encode())


def answer(start_response, status: str, body: bytes):
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def app_from_env():
    """The app for gunicorn (`bench.bare_app:app_from_env()`), its folders from the env."""
    files = Path(os.environ.get("BENCH_BARE_FILES", "bench-files"))
    uploads = Path(os.environ.get("BENCH_BARE_UPLOADS", "bench-uploads"))
    uploads.mkdir(parents=True, exist_ok=True)
    round_trips = int(os.environ.get("BENCH_BARE_ROUND_TRIPS", "0"))
    return create_app(files, uploads, round_trips, int(os.environ.get("BENCH_REDIS_PORT", "6379")))
