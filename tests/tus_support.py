"""Helpers for the tus tests: headers, Upload-Metadata, and requests through a TestClient."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

UPLOADS = "/api/v1.0/uploads"
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {**TUS, "Content-Type": "application/offset+octet-stream"}


def metadata(**values: str | bytes) -> str:
    """Upload-Metadata for `values`, as tus clients encode it."""
    pairs = []
    for key, value in values.items():
        raw = value if isinstance(value, bytes) else value.encode()
        pairs.append(f"{key} {base64.b64encode(raw).decode()}")
    return ",".join(pairs)


def path_of(url: str) -> str:
    return urlsplit(url).path


def create(client, length: int, body: bytes | None = None, headers=None, **meta):
    """POST a creation (with `body`: creation-with-upload) through a falcon TestClient."""
    sent = {**(CHUNK if body is not None else TUS), "Upload-Length": str(length)}
    if meta:
        sent["Upload-Metadata"] = metadata(**meta)
    sent.update(headers or {})
    return client.simulate_post(UPLOADS, headers=sent, body=body)


def created_path(client, length: int, **meta) -> str:
    made = create(client, length, **meta)
    assert made.status_code == 201, made.text
    return path_of(made.headers["Location"])


def patch(client, path: str, offset: int, body: bytes, headers=None):
    sent = {**CHUNK, "Upload-Offset": str(offset), **(headers or {})}
    return client.simulate_patch(path, headers=sent, body=body)
