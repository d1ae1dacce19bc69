"""The benchmark's baseline: the least a WSGI app on drop's gunicorn settings can do.

It does each thing drop's hot paths do, and nothing else, so `drop / bare` measured in
the same run tells how much drop adds on top of gunicorn itself:

- `GET /files/<name>`: a file from BENCH_BARE_FILES, through `wsgi.file_wrapper`
  (gunicorn's sendfile), like a download;
- `PUT` or `POST` to any path: the raw body copied to a new file in BENCH_BARE_UPLOADS
  in 1 MiB reads, then fsync'd, then `201` with a small JSON body, like an upload;
- anything else: `404 {"error": "Not Found"}`, like an unknown token.

Serve it as `gunicorn -c ops/gunicorn.conf.py 'bench.bare_app:app_from_env()'`.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

READ_SIZE = 1024 * 1024
NOT_FOUND = json.dumps({"error": "Not Found"}).encode()


def create_app(files_dir: Path, uploads_dir: Path):
    """A WSGI callable serving `files_dir` and storing bodies in `uploads_dir`."""
    files_dir = Path(files_dir)
    uploads_dir = Path(uploads_dir)

    def app(environ, start_response):
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
    return create_app(files, uploads)
