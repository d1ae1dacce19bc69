"""Blobs in an S3-compatible object store (SeaweedFS, Garage, Ceph RGW, MinIO, AWS, R2, B2).

Every web node and worker sees the same bucket, so a drop uploaded on one node downloads
from any other. Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, a profile, an instance role), never from drop's own settings.

An upload streams into a multipart upload as its body arrives: one part (PART_BYTES) in
memory at most, no threads. Each multipart upload in flight has a row in
`multipart_upload` (migration 0009), touched with every part, so a reconciliation on any
node can tell an upload still running from one whose node died, and abort only the latter.
"""

from __future__ import annotations

import datetime
import hashlib
import mmap
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from drop import crypto
from drop.clock import naive_utc_epoch
from drop.db.models import MultipartUpload
from drop.runtime.metrics import STORAGE_ERRORS, STORAGE_LATENCY
from drop.storage.blobs import (
    S3,
    StaleUpload,
    StorageUnavailable,
    StoredBlob,
    TempBlob,
    UploadTooLarge,
)
from drop.storage.blobs import blob_key as token_key
from drop.storage.s3_parts import (
    CHUNK_BYTES,
    PART_BYTES,
    MultipartWriter,
    PartBody,
    S3Blob,
    abort_multipart,
    receiving_upload_ids,
    tus_upload_id,
)

# DeleteObjects takes at most 1000 keys a request.
DELETE_BATCH = 1000
# Presigned URLs for nginx (X-Accel-Redirect) live this long: enough to open the object.
PRESIGNED_SECONDS = 60
ADDRESSING_STYLES = ("path", "virtual")
# The bucket's lifecycle (drop-ops check --fix): multipart uploads nobody completed are
# aborted by the store after this many days, whatever became of the node that began them.
# A resumable (tus) upload is one multipart upload however long it runs, so its life is
# capped a day short of this (TUS_LONGEST_LIFE): it lapses as tus says, never by surprise.
ABORT_INCOMPLETE_DAYS = 7
TUS_LONGEST_LIFE = datetime.timedelta(days=ABORT_INCOMPLETE_DAYS - 1)
LIFECYCLE_ID = "drop:{prefix}{rule}"  # our rules' IDs: another prefix's rules are left alone
# Below the prefix: where DROP_SCAN_QUARANTINE=keep moves an infected blob.
QUARANTINE_PREFIX = "quarantine/"
MISSING = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class S3Settings:
    """Which bucket, where; no credential (boto3's chain supplies those)."""

    bucket: str
    endpoint_url: str | None = None  # None: AWS itself
    region: str | None = None
    prefix: str = ""  # keys start with this ("drop/"), so a bucket can be shared
    addressing_style: str = "path"

    def as_dict(self) -> dict:
        return asdict(self)


def boto_config(settings: S3Settings) -> BotoConfig:
    """What keeps non-AWS stores working: SigV4 for presigned URLs too, and checksums only
    where S3 requires them (boto3 1.36+ sends and checks CRC32 on every request by default,
    which Backblaze B2, Wasabi and rclone's ranged reads refuse)."""
    return BotoConfig(
        signature_version="s3v4",
        s3={"addressing_style": settings.addressing_style},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
    )


class S3Storage:
    """Blobs as objects `<prefix>ab/<token>` in one bucket."""

    kind = S3

    def __init__(self, settings: S3Settings):
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self._client = None
        self._client_pid = None

    # --- plumbing

    @property
    def client(self):
        # One client per process: gunicorn forks its workers after the app is built, and
        # a client's connection pool must not be shared across a fork.
        if self._client is None or self._client_pid != os.getpid():
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.settings.endpoint_url,
                region_name=self.settings.region,
                config=boto_config(self.settings),
            )
            self._client_pid = os.getpid()
        return self._client

    def describe(self) -> str:
        where = self.settings.endpoint_url or "AWS"
        return f"s3://{self.bucket}/{self.prefix} at {where}"

    def key(self, token: str) -> str:
        return self.prefix + token_key(token)

    @contextmanager
    def _request(self, operation: str):
        """Time one request; a missing object is FileNotFoundError, any other failure
        StorageUnavailable naming the store and the error code (never a credential)."""
        started = time.perf_counter()
        try:
            yield
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "unknown"))
            if code in MISSING:
                raise FileNotFoundError(code) from error
            self._failed(operation)
            raise StorageUnavailable(f"{self.describe()}: {operation} failed: {code}") from error
        except BotoCoreError as error:
            self._failed(operation)
            raise StorageUnavailable(
                f"{self.describe()}: {operation} failed: {type(error).__name__}"
            ) from error
        finally:
            STORAGE_LATENCY.labels(operation).observe(time.perf_counter() - started)

    def _failed(self, operation: str) -> None:
        STORAGE_ERRORS.labels(operation).inc()

    # --- the interface

    def ensure_ready(self) -> None:
        pass  # nothing local; the bucket is the operator's (drop-ops check tests it)

    def admit(self, incoming_bytes: int) -> None:
        pass  # the store's capacity is not ours to guess; a refused write is a 503

    def receive(self, stream, limit: int, token: str | None = None) -> TempBlob:
        """Stream the body into the object of a new token (or `token`): one PutObject when
        it fits in a part, else a multipart upload completed only once the body is whole."""
        token = token or crypto.new_token()
        key = self.key(token)
        digest = hashlib.sha256()
        size = 0
        # One buffer for the whole upload, filled in place and sent part by part. An
        # anonymous mapping rather than a bytearray: closing it gives the pages back to the
        # OS at once, where malloc would keep a freed 8 MiB in the arena of the thread that
        # served the upload (gunicorn has dozens), adding up across uploads.
        part = mmap.mmap(-1, PART_BYTES)
        filled = 0
        upload: MultipartWriter | None = None
        try:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge()
                digest.update(chunk)
                taken = 0
                while taken < len(chunk):
                    fits = min(len(chunk) - taken, PART_BYTES - filled)
                    part[filled : filled + fits] = chunk[taken : taken + fits]
                    filled += fits
                    taken += fits
                    if filled == PART_BYTES:
                        if upload is None:
                            upload = MultipartWriter(self, key)
                        with PartBody(part, filled) as body:
                            upload.send(body)
                        filled = 0
            if upload is None:
                with self._request("put_object"), PartBody(part, filled) as body:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
            else:
                if filled:
                    with PartBody(part, filled) as body:
                        upload.send(body)
                upload.complete()
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        finally:
            with suppress(BufferError):  # a traceback still holds a view: the GC unmaps it
                part.close()
        return TempBlob(token, size, digest.hexdigest())

    def adopt(self, path, size: int, sha256: str) -> TempBlob:
        try:
            with open(path, "rb") as source:
                temp = self.receive(source, limit=size)
        finally:
            os.unlink(path)
        if temp.sha256 != sha256:  # changed on disk since it was hashed: keep neither
            self.discard(temp)
            raise OSError(f"the upload changed while it was copied to {self.describe()}")
        return temp

    def commit(self, temp: TempBlob) -> None:
        pass  # the object took its final key when the upload completed

    def discard(self, temp: TempBlob) -> None:
        self.delete(temp.token)

    def open(self, token: str) -> S3Blob:
        with self._request("get_object"):
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(token))
        failed = lambda error: self._failed("get_object")  # noqa: E731
        return S3Blob(response["Body"], failed, response["ContentLength"])

    def open_range(self, token: str, start: int, length: int) -> S3Blob:
        """`length` bytes from `start`: a GetObject with a Range, so only those travel."""
        wanted = f"bytes={start}-{start + length - 1}"
        with self._request("get_object"):
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(token), Range=wanted)
        failed = lambda error: self._failed("get_object")  # noqa: E731
        return S3Blob(response["Body"], failed, response["ContentLength"])

    def presigned_url(
        self, token: str, expires_in: int = PRESIGNED_SECONDS, overrides: dict | None = None
    ) -> str:
        """A SigV4 URL that GETs the blob for `expires_in` seconds (signed here, no request)."""
        params = {"Bucket": self.bucket, "Key": self.key(token), **(overrides or {})}
        with self._request("presign"):
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )

    def accel_path(self, token: str) -> str:
        """The presigned URL without its scheme and host: nginx's internal location proxies
        it to the store (ops/nginx.conf), which checks the signature and serves Range."""
        url = urlsplit(self.presigned_url(token))
        return f"{url.path.lstrip('/')}?{url.query}"

    def redirect_url(self, token: str, headers: dict[str, str]) -> str:
        # S3 answers with these instead of the object's own (response-* overrides).
        overrides = {
            "ResponseContentType": headers["Content-Type"],
            "ResponseContentDisposition": headers["Content-Disposition"],
            "ResponseCacheControl": headers["Cache-Control"],
        }
        return self.presigned_url(token, overrides=overrides)

    def exists(self, token: str) -> bool:
        try:
            self._head(token)
        except FileNotFoundError:
            return False
        return True

    def size_of(self, token: str) -> int:
        try:
            return self._head(token)["ContentLength"]
        except FileNotFoundError:
            return 0

    def _head(self, token: str) -> dict:
        with self._request("head_object"):
            return self.client.head_object(Bucket=self.bucket, Key=self.key(token))

    def delete(self, token: str) -> bool:
        # S3 answers a DELETE of a missing key with 204 too: look first to say which.
        if not self.exists(token):
            return False
        with self._request("delete_object"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(token))
        return True

    def delete_many(self, tokens: Iterable[str]) -> list[str]:
        """DeleteObjects, DELETE_BATCH keys a request; the tokens whose key is gone."""
        tokens = list(tokens)
        deleted = []
        for start in range(0, len(tokens), DELETE_BATCH):
            batch = tokens[start : start + DELETE_BATCH]
            objects = [{"Key": self.key(token)} for token in batch]
            with self._request("delete_objects"):
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            failed = {error["Key"] for error in response.get("Errors", [])}
            deleted += [token for token in batch if self.key(token) not in failed]
        return deleted

    def quarantine(self, token: str) -> bool:
        """Copy the object to `<prefix>quarantine/<token>`, then delete it from where it is
        served; False if it is gone. Nothing lists, serves or sweeps that prefix."""
        source = {"Bucket": self.bucket, "Key": self.key(token)}
        try:
            with self._request("copy_object"):
                self.client.copy_object(
                    Bucket=self.bucket, Key=self.quarantine_key(token), CopySource=source
                )
        except FileNotFoundError:
            return False
        return self.delete(token)

    def quarantine_key(self, token: str) -> str:
        return f"{self.prefix}{QUARANTINE_PREFIX}{token}"

    def blob_tokens(self) -> Iterator[StoredBlob]:
        """ListObjectsV2 page by page (1000 keys each); keys that are no blob are skipped.

        In token order: S3 lists keys in UTF-8 byte order, and a key is its token's
        first two characters, a slash and the token. Only reconciliation walks this.
        """
        paginator = self.client.get_paginator("list_objects_v2")
        with self._request("list_objects"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    token = item["Key"].rsplit("/", 1)[-1]
                    if crypto.is_token(token) and item["Key"] == self.key(token):
                        yield StoredBlob(token, item["Size"], item["LastModified"].timestamp())

    def stale_uploads(self, now: datetime.datetime, older_than_seconds: float) -> list[StaleUpload]:
        """Multipart uploads with no sign of life (a part sent, per their row; without a
        row, their start) for `older_than_seconds`: their node died or gave up.

        A resumable upload's multipart upload (drop.tus.s3_partials) lives as long as
        its tus upload is receiving, however long it waits for its next PATCH; once its
        row is gone it is stale like any other.
        """
        cutoff = naive_utc_epoch(now) - older_than_seconds
        stale = []
        paginator = self.client.get_paginator("list_multipart_uploads")
        with self._request("list_multipart_uploads"):
            pages = list(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix))
        for page in pages:
            uploads = page.get("Uploads", [])
            touched = {
                row.upload_id: naive_utc_epoch(row.touched_at)
                for row in MultipartUpload.select().where(
                    MultipartUpload.upload_id.in_([u["UploadId"] for u in uploads])
                )
            }
            resumable = {u["Key"]: tus_upload_id(self, u["Key"]) for u in uploads}
            receiving = receiving_upload_ids([i for i in resumable.values() if i is not None])
            for upload in uploads:
                if resumable[upload["Key"]] in receiving:
                    continue
                alive_at = touched.get(upload["UploadId"], upload["Initiated"].timestamp())
                if alive_at < cutoff:
                    name = f"multipart upload of {upload['Key']} ({upload['UploadId'][:12]}…)"
                    stale.append(StaleUpload(name, (upload["Key"], upload["UploadId"])))
        return stale

    def remove_stale_upload(self, stale: StaleUpload) -> None:
        key, upload_id = stale.handle
        abort_multipart(self, key, upload_id)

    def lifecycle_rules(self, expire_days: int) -> list[dict]:
        """Our two rules below the prefix: abort incomplete multipart uploads, and expire
        objects older than `expire_days` (more than any drop can live, so only what every
        deletion missed)."""
        where = {"Filter": {"Prefix": self.prefix}, "Status": "Enabled"}
        return [
            {
                "ID": LIFECYCLE_ID.format(prefix=self.prefix, rule="abort-incomplete-uploads"),
                **where,
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_DAYS},
            },
            {
                "ID": LIFECYCLE_ID.format(prefix=self.prefix, rule="expire-objects"),
                **where,
                "Expiration": {"Days": expire_days},
            },
        ]

    def current_lifecycle(self) -> list[dict]:
        """The bucket's lifecycle rules, [] when it has none."""
        try:
            with self._request("get_bucket_lifecycle"):
                response = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
        except StorageUnavailable as error:
            if "NoSuchLifecycleConfiguration" in str(error):
                return []
            raise
        return response.get("Rules", [])

    def apply_lifecycle(self, expire_days: int) -> list[dict]:
        """Put our rules in the bucket's lifecycle, keeping every other rule (the call
        replaces the whole configuration); return our rules as the store now has them.

        Raises StorageUnavailable naming the error when the store refuses (one without
        lifecycle support answers NotImplemented).
        """
        ours = self.lifecycle_rules(expire_days)
        ids = {rule["ID"] for rule in ours}
        kept = [rule for rule in self.current_lifecycle() if rule.get("ID") not in ids]
        with self._request("put_bucket_lifecycle"):
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": kept + ours}
            )
        return [rule for rule in self.current_lifecycle() if rule.get("ID") in ids]

    def probe(self) -> str | None:
        """Put and delete a tiny object: the bucket is reachable and takes writes."""
        key = f"{self.prefix}probe-{uuid.uuid4().hex}"
        try:
            with self._request("put_object"):
                self.client.put_object(Bucket=self.bucket, Key=key, Body=b"drop")
            with self._request("delete_object"):
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except (StorageUnavailable, FileNotFoundError) as error:
            return str(error)
        return None

    def readiness(self) -> str | None:
        return "unreachable or not writable" if self.probe() is not None else None
