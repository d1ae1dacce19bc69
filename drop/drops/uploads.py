"""Receives an upload: the file streamed to disk, the options validated, the drop created.

Three request shapes arrive here: the multipart form (the API's and the page's), the raw
body of `curl -T` (drop.drops.raw_uploads), and a tus upload's chunks (drop.tus.records). All
of them are admitted by `admit_upload` and become drops through `record_upload`, with the options
validated by `upload_options`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import falcon
from falcon.util.reader import BufferedReader
from gunicorn.http.errors import ParseException

from drop.config import Config
from drop.db.models import MAX_AGENT_CHARS
from drop.drops import lifecycle as drops
from drop.drops.filenames import DEFAULT_CONTENT_TYPE, sanitize_content_type, sanitize_filename
from drop.protection import blocks
from drop.protection.clients import client_address, user_agent
from drop.protection.limits import TooManyAttempts, UploadQuota
from drop.protection.scans import UploadScanning
from drop.protection.uploaders import UploaderCheck
from drop.runtime.serving import ClientTooSlow
from drop.storage import BlobStorage, TempBlob, UploadTooLarge
from drop.wording import plural

# Room in Content-Length for the multipart framing and the small text fields, so the
# up-front check only refuses bodies that cannot possibly hold an allowed file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_PASSWORD_CHARS = 1024
# Longer than any number a field may hold, and far below int()'s 4,300-digit limit.
MAX_NUMBER_DIGITS = 18


@dataclass(frozen=True)
class UploadOptions:
    password: str | None
    expires_in: int
    max_downloads: int


@dataclass(frozen=True)
class UploadForm:
    temp: TempBlob
    filename: str
    content_type: str
    options: UploadOptions


@dataclass(frozen=True)
class Uploading:
    """What every upload route needs (the API's, the page's, tus and `curl -T`): built once
    by create_app and handed to each."""

    config: Config
    storage: BlobStorage
    clock: Callable[[], datetime.datetime]
    uploaders: UploaderCheck
    scanning: UploadScanning | None = None


def too_large(config: Config) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        description=f"files may be at most {config.max_upload_bytes} bytes"
    )


def receive_drop(
    req: falcon.Request,
    config: Config,
    storage: BlobStorage,
    now,
    quota: UploadQuota,
    scanning: UploadScanning | None = None,
) -> drops.NewDrop:
    """Read a multipart upload and store it as a new drop (the API's and the page's upload)."""
    return store_upload(
        req,
        config,
        storage,
        now,
        quota,
        lambda: read_upload_form(req, config, storage),
        scanning,
    )


def store_upload(
    req: falcon.Request,
    config: Config,
    storage: BlobStorage,
    now,
    quota: UploadQuota,
    read_upload: Callable[[], UploadForm],
    scanning: UploadScanning | None = None,
) -> drops.NewDrop:
    """Store what `read_upload` streams from the request as a new drop, whatever its shape.

    A blocked address and the client's hourly quota are checked before the body is read
    (the quota counts only what was stored), blocked content once it has arrived. No
    temp file outlives a failure. With `scanning`, the row is committed with its first
    scan status and the scan queued right after.
    """
    client = admit_upload(req, config, quota)
    try:
        form = read_upload()
    except BaseException:
        quota.give_back(client)
        raise
    try:
        return record_upload(req, config, storage, now, quota, client, form, scanning=scanning)
    except BaseException:
        quota.give_back(client)
        raise


def admit_upload(req: falcon.Request, config: Config, quota: UploadQuota) -> str:
    """Refuse an upload from a blocked address (403), take one of the client's uploads for
    this hour (429 when they are used up) and return the client's address, which the
    upload's stored bytes are counted to."""
    client = client_address(req, config.trusted_proxies)
    refuse_blocked(req, client)
    try:
        quota.admit(client)
    except TooManyAttempts as refused:
        raise falcon.HTTPTooManyRequests(
            description=f"{refused.reason}; try again in {plural(refused.retry_after, 'second')}",
            retry_after=refused.retry_after,
        ) from None
    return client


def record_upload(
    req: falcon.Request,
    config: Config,
    storage: BlobStorage,
    now,
    quota: UploadQuota,
    client: str,
    form: UploadForm,
    *,
    scanning: UploadScanning | None = None,
    password_hash: str | None = None,
    on_insert: Callable[[drops.NewDrop], None] | None = None,
) -> drops.NewDrop:
    """Make a received file a drop: blocked content refused (403), the scan admitted, the
    blob moved into place, the row, the client's stored bytes, the scan queued and the
    metrics. The temp file never outlives a failure.

    `password_hash` stands for `form.options.password` when only a hash was kept (a tus
    upload's); `on_insert` is a write committed in the same transaction as the row.
    """
    counted_with_row = quota.counted_with_rows
    if counted_with_row:
        on_insert = _also(on_insert, lambda new: quota.stored(client, new.drop.size))
    try:
        if scanning is not None:
            scanning.admit(form.temp.size)
        new = drops.create_drop(
            storage,
            form.temp,
            filename=form.filename,
            content_type=form.content_type,
            password=form.options.password,
            password_hash=password_hash,
            expires_in=form.options.expires_in,
            max_downloads=form.options.max_downloads,
            now=now,
            # Who uploaded, for the operator; nothing at all with a retention of 0.
            uploader_address=client if config.uploader_retention else None,
            uploader_agent=user_agent(req, MAX_AGENT_CHARS) if config.uploader_retention else None,
            on_insert=on_insert,
            scan_status=scanning.status_for(form.temp.size) if scanning is not None else None,
        )
    except drops.ContentBlocked:
        storage.discard(form.temp)  # nothing of a refused upload is kept
        raise content_blocked(req, form.temp.sha256) from None
    except BaseException:
        # Not moved into place (a full disk, a failed commit): it must not stay behind.
        storage.discard(form.temp)
        raise
    if not counted_with_row:
        quota.stored(client, new.drop.size)
    if scanning is not None:
        scanning.stored(new.drop)
    req.context.uploaded = new.drop  # counted by the metrics middleware
    return new


def _also(
    first: Callable[[drops.NewDrop], None] | None, then: Callable[[drops.NewDrop], None]
) -> Callable[[drops.NewDrop], None]:
    """Both writes, for one `on_insert`."""
    if first is None:
        return then

    def both(new: drops.NewDrop) -> None:
        first(new)
        then(new)

    return both


def refuse_blocked(req: falcon.Request, address: str) -> None:
    """403, with the block's reason, for an upload from a blocked address: checked before
    the body is read. Blocked content is refused once it has arrived, by the row's INSERT
    (drops.ContentBlocked). Both refusals are counted in /metrics."""
    if (block := blocks.address_block(address)) is not None:
        req.context.blocked_upload = blocks.ADDRESS
        raise falcon.HTTPForbidden(
            description=f"uploads from this address are blocked: {block.reason}"
        )


def content_blocked(req: falcon.Request, sha256: str) -> falcon.HTTPForbidden:
    """The 403 for an upload of blocked content, with the block's reason."""
    req.context.blocked_upload = blocks.CONTENT
    block = blocks.content_block(sha256)
    # None: the block was lifted between the INSERT that found it and this read.
    reason = block.reason if block is not None else "its content is blocked"
    return falcon.HTTPForbidden(description=f"this file is blocked here: {reason}")


def admit_body(
    req: falcon.Request, config: Config, storage: BlobStorage, overhead_bytes: int = 0
) -> None:
    """Refuse, before a byte is read, a body too large for the limit (413) or the disk (507).

    `overhead_bytes`: what the body may carry besides the file (the multipart framing).
    A chunked body's size is unknown: it is admitted while free space is above the floor,
    and `receive_file` counts its bytes.
    """
    if req.content_length and req.content_length > config.max_upload_bytes + overhead_bytes:
        raise too_large(config)
    storage.admit(req.content_length or 0)


def receive_file(stream, config: Config, storage: BlobStorage) -> TempBlob:
    """Stream the file's bytes into storage; 413 past the limit, nothing then kept."""
    try:
        return storage.receive(stream, config.max_upload_bytes)
    except UploadTooLarge:
        raise too_large(config) from None


# What each option counts, named in its errors: "expires_in must be … seconds".
OPTION_UNITS = {"expires_in": "seconds", "max_downloads": "downloads"}


def upload_options(
    fields: Mapping[str, str | None],
    config: Config,
    names: Mapping[str, str] | None = None,
) -> UploadOptions:
    """The drop's options from the form's fields (or the raw upload's headers); 400 if bad.

    `names` maps a field to what the client called it (the raw upload's Drop-* headers),
    so an error names what the client sent.
    """
    names = names or {}
    return UploadOptions(
        password=_password(fields.get("password"), names.get("password", "password")),
        expires_in=_bounded_int(
            fields,
            "expires_in",
            config.default_expires_in,
            config.max_expires_in,
            names.get("expires_in", "expires_in"),
        ),
        max_downloads=_bounded_int(
            fields, "max_downloads", 1, config.max_downloads, names.get("max_downloads")
        ),
    )


def read_upload_form(req: falcon.Request, config: Config, storage: BlobStorage) -> UploadForm:
    """Stream the `file` part to a temp file and validate the other fields.

    Raises a 4xx HTTPError for anything wrong; the temp file never outlives a failure.
    """
    admit_body(req, config, storage, MULTIPART_OVERHEAD_BYTES)
    if not (req.content_type or "").lower().startswith("multipart/form-data"):
        raise falcon.HTTPBadRequest(description="send the file as multipart/form-data")
    temp = None
    file_part = None
    fields: dict[str, str] = {}
    try:
        for part in _multipart_parts(req, config):
            name, filename = part_disposition(part)
            if name == "file":
                if temp is not None:
                    raise falcon.HTTPBadRequest(description="send exactly one file part")
                file_part = (filename, part_content_type(part))
                temp = receive_file(part.stream, config, storage)
            elif name in ("password", "expires_in", "max_downloads"):
                fields[name] = part.get_text() or ""
        if temp is None:
            raise falcon.HTTPBadRequest(description="the multipart body has no `file` part")
        form = UploadForm(
            temp=temp,
            filename=sanitize_filename(file_part[0]),
            content_type=sanitize_content_type(file_part[1]),
            options=upload_options(fields, config),
        )
    except BaseException:
        if temp is not None:
            storage.discard(temp)
        raise
    return form


def _multipart_parts(req: falcon.Request, config: Config):
    """The body's parts; a chunked body (no Content-Length) is read at most up to the limit."""
    if req.content_length is not None:
        return req.get_media()
    # Under WSGI, Falcon's parser takes a body's length from Content-Length. A chunked body
    # has none, so give the parser a reader with a bound of our own: the file part's byte
    # counter still answers 413, and a body can never run on past the limit.
    handler = req.options.media_handlers[falcon.MEDIA_MULTIPART]
    reader = BufferedReader(
        BodyReader(req.stream).read, config.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    )
    return handler.deserialize(reader, req.content_type, None)


class BodyReader:
    """A request body whose malformed or cut-off chunked encoding is answered as a 400.

    gunicorn decodes the chunking while we read, so its complaints (a bad chunk size, the
    connection closed mid-body) surface here, in the middle of a parser or a copy.
    """

    def __init__(self, stream):
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except ClientTooSlow:
            raise  # a 408, not a malformed body
        except (OSError, ParseException) as error:
            raise falcon.HTTPBadRequest(
                description="the chunked request body is malformed or ends early"
            ) from error


def part_content_type(part) -> str:
    """The part's Content-Type; Falcon decodes it as ASCII and raises on any other byte."""
    try:
        return part.content_type
    except UnicodeDecodeError:
        return DEFAULT_CONTENT_TYPE


def part_disposition(part) -> tuple[str | None, str | None]:
    """The part's field name and filename, even when the client sent bytes that are not UTF-8.

    Falcon decodes the Content-Disposition header strictly and raises on invalid UTF-8;
    such a filename is still a name, so decode it leniently and keep what can be kept.
    """
    try:
        return part.name, part.filename
    except UnicodeDecodeError:
        raw = part._headers.get(b"content-disposition", b"")
        _, params = falcon.parse_header(raw.decode("utf-8", "replace"))
        return params.get("name"), params.get("filename")


def _password(raw: str | None, label: str) -> str | None:
    if not raw:
        return None
    if len(raw) > MAX_PASSWORD_CHARS:
        raise falcon.HTTPBadRequest(
            description=f"{label} may be at most {MAX_PASSWORD_CHARS} characters"
        )
    return raw


def _bounded_int(
    fields: Mapping[str, str | None],
    name: str,
    default: int,
    maximum: int,
    label: str | None = None,
) -> int:
    raw = (fields.get(name) or "").strip()
    if not raw:
        return default
    label = label or name
    unit = OPTION_UNITS[name]
    if len(raw) > MAX_NUMBER_DIGITS or not raw.isascii() or not raw.isdigit():
        raise falcon.HTTPBadRequest(
            description=f"{label} must be a whole number of {unit} from 1 to {maximum}"
        )
    value = int(raw)
    if not 1 <= value <= maximum:
        raise falcon.HTTPBadRequest(
            description=f"{label} must be from 1 to {maximum} {unit}, got {value}"
        )
    return value
