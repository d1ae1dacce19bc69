"""Helpers for the tus tests: headers, Upload-Metadata, and requests through a TestClient."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urlsplit

from drop.storage import open_storage

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


class StoredPartials:
    """What unfinished tus uploads hold in storage: files under <data_dir>/uploads (and
    tmp/), or in S3 multipart uploads and objects under `<prefix>uploads/`."""

    def __init__(self, config):
        self._config = config
        self._dir = Path(config.data_dir)
        self._s3 = open_storage(config) if config.storage == "s3" else None

    def exists(self, upload_id: str) -> bool:
        if self._s3 is None:
            return (self._dir / "uploads" / upload_id).exists()
        return any(f"uploads/{upload_id}/" in key for key in self.leftovers())

    def small_bytes(self, upload_id: str) -> bytes:
        """The bytes stored of an upload shorter than a part (on S3: all in its tail)."""
        if self._s3 is None:
            return (self._dir / "uploads" / upload_id).read_bytes()
        key = f"{self._s3.prefix}uploads/{upload_id}/tail-0"
        try:
            return self._s3.client.get_object(Bucket=self._s3.bucket, Key=key)["Body"].read()
        except self._s3.client.exceptions.NoSuchKey:
            return b""

    def leftovers(self) -> list[str]:
        """Every file, object or multipart upload of a partial upload."""
        if self._s3 is None:
            return sorted(
                str(path)
                for part in ("uploads", "tmp")
                for path in (self._dir / part).rglob("*")
                if path.is_file()
            )
        client, bucket = self._s3.client, self._s3.bucket
        prefix = f"{self._s3.prefix}uploads/"
        objects = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
        return sorted(
            [item["Key"] for item in objects] + [f"multipart {u['Key']}" for u in uploads]
        )
