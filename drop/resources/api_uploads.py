"""The tus 1.0 server: resumable uploads at /api/v1.0/uploads (drop.tus.records holds the state).

Core protocol, creation, creation-with-upload, expiration and termination. A chunk is
streamed as any upload is, counted and bounded by the upload's length, to where
drop.tus.partials keeps unfinished uploads (this node's disk, or the S3 bucket); the chunk
that completes the upload makes it a drop, with the same limits, quota and links as the
other uploads, and answers with them in `Drop-Url`, `Drop-Share-Url` and
`Drop-Delete-Token`. A GET of the upload's URL repeats the upload's JSON afterwards.
"""

from __future__ import annotations

import datetime
import logging
import re

import falcon

from drop import crypto
from drop.drops import lifecycle as drops
from drop.drops.filenames import sanitize_content_type, sanitize_filename
from drop.drops.uploads import (
    BodyReader,
    UploadForm,
    Uploading,
    UploadOptions,
    admit_upload,
    record_upload,
    too_large,
    upload_options,
)
from drop.protection.clients import client_address
from drop.resources.api_file import API_PREFIX, drop_api_url, upload_answer
from drop.resources.page_home import share_path
from drop.storage import StorageUnavailable, UploadTooLarge
from drop.storage.disk import FreeSpaceFloor
from drop.tus import records as tus
from drop.tus.partials import PartialStore

log = logging.getLogger(__name__)

UPLOADS_PATH = f"{API_PREFIX}/uploads"
# A header's whole number: Upload-Length, Upload-Offset (int() would take "+1", " 1", "1_0").
NUMBER = re.compile(r"[0-9]{1,18}")
# What X-HTTP-Method-Override may name (tus core: clients that cannot send PATCH or DELETE).
OVERRIDABLE = {"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"}
CUT_SHORT = "the request body ends before its Content-Length; the bytes that came are kept"


def require_tus_version(req: falcon.Request, resp: falcon.Response, resource, params) -> None:
    """Falcon hook of the tus responders but OPTIONS and GET: 412 (with Tus-Version, from
    TusProtocol) unless the request names the version this server speaks."""
    if req.get_header("Tus-Resumable") != tus.TUS_VERSION:
        raise falcon.HTTPPreconditionFailed(
            description=f"this server speaks tus {tus.TUS_VERSION}: send Tus-Resumable: "
            f"{tus.TUS_VERSION}"
        )


class TusProtocol:
    """Falcon middleware for the tus routes: X-HTTP-Method-Override, and Tus-Resumable on
    every answer, errors included (with Tus-Version on a 412)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not _is_tus_path(req.path):
            return
        override = req.get_header("X-HTTP-Method-Override")
        if override is not None:
            if override.upper() not in OVERRIDABLE:
                raise falcon.HTTPBadRequest(
                    description="X-HTTP-Method-Override names no method of this URL"
                )
            req.method = override.upper()

    def process_response(self, req, resp: falcon.Response, resource, req_succeeded) -> None:
        if not _is_tus_path(req.path):
            return
        resp.set_header("Tus-Resumable", tus.TUS_VERSION)
        if resp.status_code == 412:
            resp.set_header("Tus-Version", tus.TUS_VERSION)


def _is_tus_path(path: str) -> bool:
    return path == UPLOADS_PATH or path.startswith(UPLOADS_PATH + "/")


class TusServer:
    """What both tus resources share: receiving a chunk, and completing an upload."""

    def __init__(self, uploading: Uploading, partials: PartialStore):
        self.config = uploading.config
        self.storage = uploading.storage
        self.partials = partials
        self.clock = uploading.clock
        self.uploaders = uploading.uploaders
        self.scanning = uploading.scanning
        # A lease outlives the longest a body may pause (drop.runtime.serving), many times over:
        # it is renewed while bytes arrive, and runs out only when its process died.
        self.lease_seconds = max(60, 3 * self.config.client_timeout)

    def upload_url(self, req: falcon.Request, upload_id: str) -> str:
        return f"{self.config.base_url or req.prefix}{UPLOADS_PATH}/{upload_id}"

    def first_expiry_seconds(self) -> int:
        """A new upload's time to live: DROP_UPLOAD_EXPIRES_IN, within its longest life."""
        seconds = self.config.upload_expires_in
        if self.partials.longest_life is not None:
            seconds = min(seconds, int(self.partials.longest_life.total_seconds()))
        return seconds

    def upload_expiry(self, created_at: datetime.datetime) -> datetime.datetime:
        """When an upload lapses unless another chunk comes: DROP_UPLOAD_EXPIRES_IN from
        now, but never past the longest its bytes' store keeps an unfinished upload."""
        expiry = self.clock() + datetime.timedelta(seconds=self.config.upload_expires_in)
        if self.partials.longest_life is not None:
            expiry = min(expiry, created_at + self.partials.longest_life)
        return expiry

    def options(self, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_204
        resp.set_headers(
            {
                "Tus-Resumable": tus.TUS_VERSION,
                "Tus-Version": tus.TUS_VERSION,
                "Tus-Extension": ",".join(tus.EXTENSIONS),
                "Tus-Max-Size": str(self.config.max_upload_bytes),
            }
        )

    def admit_chunk(self, req: falcon.Request, remaining: int, room: int | None = None) -> None:
        """Refuse a body before it is read: longer than what the upload lacks (413), or
        taking the node's disk below its floor, with `room` more bytes to come (507), when
        partial uploads are kept on it."""
        if req.content_length is not None and req.content_length > remaining:
            raise falcon.HTTPContentTooLarge(
                description=f"the body is longer than the {remaining} bytes the upload lacks"
            )
        if not self.partials.on_local_disk:
            return  # the bytes go to the bucket: this node's disk is not filled
        FreeSpaceFloor(self.config.data_dir, self.config.min_free_bytes).require_room(
            req.content_length or 0 if room is None else room
        )

    def receive(
        self, req: falcon.Request, resp: falcon.Response, lease: tus.Lease, offset: int
    ) -> None:
        """Append the request's body at `offset`, record how far the upload got, and
        complete it when that is its whole length. Answers with Upload-Offset."""
        upload = lease.upload
        with lease:
            # With a Content-Length, read no further than it says; chunked, gunicorn ends
            # the stream at the last chunk, and the append stops it at the upload's length.
            stream = req.bounded_stream if req.content_length is not None else req.stream
            tus.give_back_connection()  # none is held while the bytes arrive
            try:
                appended = self.partials.append(
                    upload.storage_key,
                    offset,
                    BodyReader(stream),
                    upload.upload_length - offset,
                    lease.keep_alive,
                )
            except UploadTooLarge:
                raise falcon.HTTPContentTooLarge(
                    description="the body runs past the upload's Upload-Length"
                ) from None
            except FileNotFoundError:
                raise terminated_meanwhile() from None
            new_offset = offset + appended.size
            interrupted = appended.interrupted_by
            if interrupted is None and (req.content_length or 0) > appended.size:
                interrupted = falcon.HTTPBadRequest(description=CUT_SHORT)
            if interrupted is not None:
                # tus: keep what arrived, so the client resumes from there.
                lease.record(new_offset, self.upload_expiry(upload.created_at))
                raise interrupted
            if new_offset == upload.upload_length:
                self._complete(req, resp, lease)
            else:
                expiry = self.upload_expiry(upload.created_at)
                lease.record(new_offset, expiry)
                resp.set_header("Upload-Expires", falcon.dt_to_http(expiry))
        resp.set_header("Upload-Offset", str(new_offset))

    def _complete(self, req: falcon.Request, resp: falcon.Response, lease: tus.Lease) -> None:
        upload = lease.upload
        try:
            temp = self.partials.finish(upload.storage_key, self.storage, lease.keep_alive)
        except FileNotFoundError:
            raise terminated_meanwhile() from None
        form = UploadForm(
            temp=temp,
            filename=upload.filename,
            content_type=upload.content_type,
            options=UploadOptions(None, upload.expires_in, upload.max_downloads),
        )
        # The upload was counted to its uploader (the token it was created with, or the
        # client's address) when it was created; its bytes count now, to the same one.
        quota = self.uploaders.resumed(upload.api_token_id).quota
        client = client_address(req, self.config.trusted_proxies)
        try:
            new = record_upload(
                req,
                self.config,
                self.storage,
                self.clock(),
                quota,
                client,
                form,
                scanning=self.scanning,
                password_hash=upload.password_hash,
                on_insert=lease.completed(self.upload_expiry(upload.created_at)),
            )
        except (falcon.HTTPForbidden, falcon.HTTPContentTooLarge):
            # Blocked content, or too large to scan: it can never become a drop, so
            # nothing of it is kept and the upload counts as not made.
            tus.terminate(upload.id, self.clock())
            self.forget_bytes(upload.storage_key)
            quota.give_back(client)
            raise
        # The drop's blob is the same file (on disk) or a copy (in S3): the upload's bytes
        # go; if the store fails now, the orphan sweep deletes them later.
        self.forget_bytes(upload.storage_key)
        resp.set_headers(drop_headers(new, self.config.base_url or req.prefix))

    def forget_bytes(self, key: str) -> None:
        """Delete an upload that is over; a store failing here is not the client's
        business (the upload's row says it is over, and the orphan sweep retries)."""
        try:
            self.partials.delete(key)
        except StorageUnavailable as error:
            log.warning("tus: bytes of a finished upload not deleted yet (%s)", error)


def terminated_meanwhile() -> falcon.HTTPGone:
    # A DELETE on another request (or node) removed the bytes while this one held the lease.
    return falcon.HTTPGone(description="this upload was terminated")


def drop_headers(new: drops.NewDrop, base: str) -> dict[str, str]:
    """The completed upload's links, as `curl -T` gets them."""
    return {
        "Drop-Url": drop_api_url(base, new.drop.token),
        "Drop-Share-Url": base + share_path(new.drop.token),
        "Drop-Delete-Token": new.delete_token,
        "Cache-Control": "no-store",
    }


class UploadCollection:
    """/api/v1.0/uploads: OPTIONS (the server's tus capabilities) and POST (creation)."""

    def __init__(self, server: TusServer):
        self._server = server

    def on_options(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._server.options(resp)

    @falcon.before(require_tus_version)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        server = self._server
        if req.get_header("Upload-Defer-Length") is not None:
            raise falcon.HTTPBadRequest(
                description="this server needs the upload's Upload-Length at creation"
            )
        # Who uploads, and so within which limits (a token's may be wider): 401 first.
        uploader = server.uploaders.admit(req)
        config = uploader.config
        length = header_number(req, "Upload-Length")
        if length > config.max_upload_bytes:
            raise too_large(config)
        if server.scanning is not None:
            server.scanning.admit(length)
        carries_bytes = has_body(req)
        if carries_bytes:
            require_chunk_type(req)
        header = req.get_header("Upload-Metadata")
        metadata = tus.parse_metadata(header)
        # The form's own validation, limits and messages.
        options = upload_options(
            {key: tus.metadata_text(metadata, key, strict=True) for key in tus.OPTION_KEYS},
            config,
        )
        server.admit_chunk(req, length, room=length)
        client = admit_upload(req, config, uploader.quota)
        try:
            upload, lease = tus.create_upload(
                server.partials,
                length=length,
                metadata=tus.public_metadata(header),
                filename=sanitize_filename(tus.metadata_text(metadata, "filename", strict=False)),
                content_type=sanitize_content_type(
                    tus.metadata_text(metadata, "filetype", strict=False)
                ),
                password_hash=crypto.hash_password(options.password) if options.password else None,
                expires_in=options.expires_in,
                max_downloads=options.max_downloads,
                clock=server.clock,
                expires_in_seconds=server.first_expiry_seconds(),
                # An empty file is complete at once: its creation makes the drop.
                lease_seconds=server.lease_seconds if carries_bytes or not length else None,
                api_token_id=uploader.token.id if uploader.token is not None else None,
            )
        except BaseException:
            uploader.quota.give_back(client)
            raise
        resp.status = falcon.HTTP_201
        resp.location = server.upload_url(req, upload.id)
        resp.set_header("Upload-Expires", falcon.dt_to_http(upload.expires_at))
        if lease is not None:
            server.receive(req, resp, lease, 0)


class UploadItem:
    """/api/v1.0/uploads/<id>: HEAD (how far), PATCH (a chunk), DELETE (termination), and
    GET (the drop's JSON, once complete)."""

    def __init__(self, server: TusServer):
        self._server = server

    def on_options(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        if not crypto.is_token(upload_id):
            raise falcon.HTTPNotFound(description=tus.NO_SUCH_UPLOAD)
        self._server.options(resp)

    @falcon.before(require_tus_version)
    def on_head(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        upload = self._find(upload_id)
        resp.set_headers(
            {
                "Upload-Offset": str(upload.upload_offset),
                "Upload-Length": str(upload.upload_length),
                "Cache-Control": "no-store",
            }
        )
        if upload.metadata:
            resp.set_header("Upload-Metadata", upload.metadata)
        if upload.status == tus.RECEIVING:
            resp.set_header("Upload-Expires", falcon.dt_to_http(upload.expires_at))

    @falcon.before(require_tus_version)
    def on_patch(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        require_chunk_type(req)
        offset = header_number(req, "Upload-Offset")
        upload = self._find(upload_id)
        if upload.status == tus.COMPLETE:
            raise falcon.HTTPConflict(description="this upload is complete")
        if offset != upload.upload_offset:
            raise falcon.HTTPConflict(
                description=f"Upload-Offset is {offset}, but the upload is at "
                f"{upload.upload_offset}"
            )
        self._server.admit_chunk(req, upload.upload_length - offset)
        lease = tus.Lease.claim(upload, offset, self._server.lease_seconds, self._server.clock)
        self._server.receive(req, resp, lease, offset)
        resp.status = falcon.HTTP_204

    @falcon.before(require_tus_version)
    def on_delete(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        self._find(upload_id)
        key = tus.terminate(upload_id, self._server.clock())
        if key is None:
            raise falcon.HTTPGone(description="this upload was terminated or has expired")
        self._server.forget_bytes(key)
        resp.status = falcon.HTTP_204

    def on_get(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        upload = self._find(upload_id)
        if upload.status != tus.COMPLETE:
            raise falcon.HTTPConflict(
                description=f"the upload is not complete: {upload.upload_offset} of "
                f"{upload.upload_length} bytes received"
            )
        drop = drops.find_drop(upload.drop_token)
        if drop is None:  # purged since
            raise falcon.HTTPGone(description="this upload's drop is gone")
        new = drops.NewDrop(drop, upload.delete_token)
        resp.media = upload_answer(new, self._server.config.base_url or req.prefix)
        resp.set_header("Cache-Control", "no-store")

    def _find(self, upload_id: str) -> tus.TusUpload:
        # The shape check keeps junk paths away from the database entirely.
        if not crypto.is_token(upload_id):
            raise falcon.HTTPNotFound(description=tus.NO_SUCH_UPLOAD)
        return tus.usable_upload(upload_id, self._server.clock())


def header_number(req: falcon.Request, name: str) -> int:
    """A required header holding a whole number of bytes; 400 when missing or malformed."""
    raw = req.get_header(name)
    if raw is None:
        raise falcon.HTTPBadRequest(description=f"send the {name} header: a number of bytes")
    if not NUMBER.fullmatch(raw.strip()):
        raise falcon.HTTPBadRequest(description=f"{name} must be a whole number of bytes")
    return int(raw)


def has_body(req: falcon.Request) -> bool:
    return bool(req.content_length) or (
        req.content_length is None and req.get_header("Transfer-Encoding") is not None
    )


def require_chunk_type(req: falcon.Request) -> None:
    media_type = (req.content_type or "").partition(";")[0].strip().lower()
    if media_type != tus.CHUNK_CONTENT_TYPE:
        raise falcon.HTTPUnsupportedMediaType(
            description=f"send the upload's bytes as Content-Type: {tus.CHUNK_CONTENT_TYPE}"
        )
