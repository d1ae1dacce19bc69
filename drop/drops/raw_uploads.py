"""A raw upload, transfer.sh's convention: `curl -T report.pdf https://drop.example/`.

curl sends `PUT /report.pdf` with the file itself as the body (with a Content-Length, or
chunked when it reads stdin). The name comes from the URL, the options from headers; the
body is streamed, counted and stored exactly as a multipart form's file part is.
"""

from __future__ import annotations

import mimetypes
import unicodedata

import falcon

from drop.config import Config
from drop.drops.filenames import DEFAULT_CONTENT_TYPE, sanitize_content_type, sanitize_filename
from drop.drops.uploads import BodyReader, UploadForm, admit_body, receive_file, upload_options
from drop.protection.clients import header_text
from drop.storage import BlobStorage

# The form's field names, as headers. The same validation, limits and messages apply.
OPTION_HEADERS = {
    "password": "Drop-Password",
    "expires_in": "Drop-Expires-In",
    "max_downloads": "Drop-Max-Downloads",
}
NAMELESS = "name the file in the URL: PUT /<name>, as `curl -T report.pdf https://<drop>/` does"
CUT_SHORT = "the request body ends before its Content-Length"
# Content types that describe how a form was encoded, never what a file is: curl's
# `--data-binary` sends the first one for any file.
FORM_ENCODINGS = ("application/x-www-form-urlencoded", "multipart/form-data")
# A name like "logs.tar.gz" is guessed as a tar file compressed with gzip: what is
# stored, and served, is the gzip file.
COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
}


def read_raw_upload(
    req: falcon.Request, config: Config, storage: BlobStorage, name: str
) -> UploadForm:
    """Validate the name and the option headers (errors name the header), then stream the
    body to a temp file.

    Raises a 4xx HTTPError for anything wrong, before the body is read where it can;
    the temp file never outlives a failure.
    """
    filename = upload_filename(name)
    options = upload_options(
        {field: header_text(req, header) for field, header in OPTION_HEADERS.items()},
        config,
        names=OPTION_HEADERS,
    )
    admit_body(req, config, storage)
    # An empty body is an empty file, a drop like any other, as a multipart form's empty
    # file part and a tus upload of length 0 are: every path accepts the same files.
    # With a Content-Length, read no further than it says; chunked, gunicorn ends the
    # stream at the last chunk and `receive_file` stops it at the limit.
    stream = req.bounded_stream if req.content_length is not None else req.stream
    temp = receive_file(BodyReader(stream), config, storage)
    try:
        if req.content_length is not None and temp.size < req.content_length:
            raise falcon.HTTPBadRequest(description=CUT_SHORT)
    except BaseException:
        storage.discard(temp)
        raise
    return UploadForm(
        temp=temp,
        filename=filename,
        content_type=raw_content_type(req.content_type, filename),
        options=options,
    )


def upload_filename(name: str) -> str:
    """The URL's (percent-decoded) last segment as a stored name; 400 for no name at all."""
    if name in (".", "..") or any(unicodedata.category(c) == "Cc" for c in name):
        raise falcon.HTTPBadRequest(description=NAMELESS)
    return sanitize_filename(name)


def raw_content_type(declared: str | None, filename: str) -> str:
    """The Content-Type the client sent if it names a file's type, else a guess from the name.

    curl -T sends none; application/octet-stream is guessed over too, so `report.pdf` is
    served as a PDF whichever client sent it.
    """
    sent = sanitize_content_type(declared)
    if sent != DEFAULT_CONTENT_TYPE and not sent.lower().startswith(FORM_ENCODINGS):
        return sent
    guessed, encoding = mimetypes.guess_type(filename)
    if encoding is not None:
        return COMPRESSED_TYPES.get(encoding, DEFAULT_CONTENT_TYPE)
    return sanitize_content_type(guessed)
