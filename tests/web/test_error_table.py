"""Every error the API and `curl -T` can give, in one table: its status, its `error` (the
seed's reason phrases) and the `detail` that says what to fix.

Each row sets up what it needs and makes one request. The API answers JSON
(`{"error": …, "detail": …}`); `curl -T` one line of text (`413 Payload Too Large: …`).
Errors only a live server or clamd can give are tested where they live: 408 for a slow
body (tests/runtime/test_slow_clients.py), 503 for a database that is down
(tests/db/test_database_outage.py), 423 and malware's 451 (tests/protection/test_scans.py).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib

import falcon.testing
import pytest

from drop.app import create_app
from drop.protection import blocks
from drop.storage.disk import LOW_ON_SPACE
from drop.web.errors import DEFAULT_DETAILS, WITHHELD
from tests.support.common import UPLOAD, multipart, upload

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

MAX_BYTES = 1000
# The table's server: small limits, so each is easy to cross.
SETTINGS = {"max_upload_bytes": MAX_BYTES, "password_attempts": 2, "password_backoff_base": 1}
ALLOWED_FILE = "DELETE, GET, HEAD, OPTIONS"
BLOCKED = "203.0.113.9"
TUS = "/api/v1.0/uploads"
TUS_HEADERS = {"Tus-Resumable": "1.0.0"}
CHUNK = "application/offset+octet-stream"
NO_SUCH_FILE = "there is no file with this token; check the link"
NO_SUCH_UPLOAD = "there is no upload with this id; create one with POST"
PASSWORD_MISSING = (
    "this file needs its password: send it in the X-Drop-Password header (or ?password=)"
)
EXPIRES = "must be a whole number of seconds from 1 to 604800"

ROWS = []


def row(status: int, error: str, detail: str, *, text: bool = False, **settings):
    """Register the decorated request as a row: the answer it must get, as JSON or (`text`)
    as curl -T's line, from a server with SETTINGS and `settings`."""

    def register(ask):
        ROWS.append(pytest.param(ask, status, error, detail, text, settings, id=ask.__name__))
        return ask

    return register


def file_path(token: str) -> str:
    return f"{UPLOAD}/{token}"


def raw(client, name: str = "report.pdf", content: bytes = b"%PDF-1.7", **headers):
    return client.simulate_put(f"/{name}", body=content, headers=headers)


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def tus_create(client, length: int = 10, **headers):
    return client.simulate_post(
        TUS, headers={**TUS_HEADERS, "Upload-Length": str(length), **headers}
    )


def tus_upload_path(client, length: int = 10) -> str:
    made = tus_create(client, length)
    assert made.status_code == 201, made.text
    return made.headers["Location"].removeprefix("http://falconframework.org")


# The API: uploads (PUT or POST /api/v1.0/file, multipart/form-data)


@row(400, "Bad Request", "send the file as multipart/form-data")
def upload_not_multipart(client):
    return client.simulate_put(UPLOAD, body=b"x", headers={"Content-Type": "text/plain"})


@row(400, "Bad Request", "the multipart body has no `file` part")
def upload_without_a_file_part(client):
    body = b'--b\r\nContent-Disposition: form-data; name="max_downloads"\r\n\r\n2\r\n--b--\r\n'
    return client.simulate_put(
        UPLOAD, body=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )


@row(400, "Bad Request", "send exactly one file part")
def upload_with_two_file_parts(client):
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nx\r\n'
    return client.simulate_put(
        UPLOAD,
        body=part * 2 + b"--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )


@row(400, "Bad Request", f"expires_in {EXPIRES}")
def upload_expiring_soon(client):
    return upload(client, expires_in="soon")


@row(400, "Bad Request", "expires_in must be from 1 to 604800 seconds, got 0")
def upload_expiring_at_once(client):
    return upload(client, expires_in="0")


@row(400, "Bad Request", "max_downloads must be from 1 to 100 downloads, got 101")
def upload_with_too_many_downloads(client):
    return upload(client, max_downloads="101")


@row(400, "Bad Request", "max_downloads must be a whole number of downloads from 1 to 100")
def upload_with_downloads_in_words(client):
    return upload(client, max_downloads="two")


@row(400, "Bad Request", "password may be at most 1024 characters")
def upload_with_a_long_password(client):
    return upload(client, password="p" * 1025)


@row(413, "Payload Too Large", f"files may be at most {MAX_BYTES} bytes")
def upload_too_large(client):
    return upload(client, b"x" * (MAX_BYTES + 1))


@row(403, "Forbidden", "uploads from this address are blocked: spam")
def upload_from_a_blocked_address(client):
    blocks.add_block(blocks.target("address", BLOCKED), "spam", actor="test", now=_now())
    return client.simulate_put(UPLOAD, **_multipart_request(headers={"X-Real-IP": BLOCKED}))


@row(403, "Forbidden", "this file is blocked here: malware")
def upload_of_blocked_content(client):
    sha256 = hashlib.sha256(b"evil").hexdigest()
    blocks.add_block(blocks.target("content", sha256), "malware", actor="test", now=_now())
    return upload(client, b"evil")


@row(
    429,
    "Too Many Requests",
    "this address made 1 upload this hour, the most allowed; try again in 3600 seconds",
    uploads_per_hour=1,
)
def upload_past_the_hourly_quota(client):
    upload(client)
    return upload(client)


@row(401, "Unauthorized", "the API token is not valid (unknown, revoked or malformed)")
def upload_with_an_unknown_api_token(client):
    return client.simulate_put(
        UPLOAD, **_multipart_request(headers={"Authorization": "Bearer drop_" + "A" * 40})
    )


@row(507, "Insufficient Storage", LOW_ON_SPACE, min_free_bytes=2**62)
def upload_below_the_free_space_floor(client):
    return upload(client)


@row(405, "Method Not Allowed", "PATCH is not allowed here; this address takes POST, PUT, OPTIONS")
def patch_of_the_upload_url(client):
    return client.simulate_patch(UPLOAD)


# The API: downloads and deletion (/api/v1.0/file/<token>)


@row(404, "Not Found", NO_SUCH_FILE)
def download_of_an_unknown_token(client):
    return client.simulate_get(file_path("0" * 32))


@row(404, "Not Found", NO_SUCH_FILE)
def download_of_something_that_is_no_token(client):
    return client.simulate_get(file_path("not-a-token"))


@row(410, "Gone", DEFAULT_DETAILS[410])
def download_used_up(client):
    token = upload(client).json["token"]
    client.simulate_get(file_path(token))
    return client.simulate_get(file_path(token))


@row(401, "Unauthorized", PASSWORD_MISSING)
def download_without_its_password(client):
    return client.simulate_get(file_path(upload(client, password="pw").json["token"]))


@row(401, "Unauthorized", "the password is wrong")
def download_with_a_wrong_password(client):
    token = upload(client, password="pw").json["token"]
    return client.simulate_get(file_path(token), headers={"X-Drop-Password": "nope"})


@row(
    429,
    "Too Many Requests",
    "too many wrong passwords for this file or from this address; try again in 1 second",
)
def download_after_too_many_wrong_passwords(client):
    token = upload(client, password="pw").json["token"]
    for _ in range(2):
        client.simulate_get(file_path(token), headers={"X-Drop-Password": "nope"})
    return client.simulate_get(file_path(token), headers={"X-Drop-Password": "nope"})


@row(416, "Requested Range Not Satisfiable", "the file has 11 bytes")
def resume_past_the_end(client):
    token = upload(client, b"hello drop\n").json["token"]
    etag = client.simulate_get(file_path(token)).headers["ETag"]
    return client.simulate_get(file_path(token), headers={"Range": "bytes=11-", "If-Range": etag})


@row(451, "Unavailable For Legal Reasons", WITHHELD)
def download_of_withheld_content(client):
    token = upload(client, b"withheld").json["token"]
    sha256 = hashlib.sha256(b"withheld").hexdigest()
    blocks.add_block(blocks.target("content", sha256), "court order", actor="test", now=_now())
    return client.simulate_get(file_path(token))


@row(403, "Forbidden", "send the X-Delete-Token header: the delete_token the upload answered with")
def delete_without_its_header(client):
    return client.simulate_delete(file_path(upload(client).json["token"]))


@row(403, "Forbidden", "the X-Delete-Token header does not match this file's delete token")
def delete_with_a_wrong_token(client):
    token = upload(client).json["token"]
    return client.simulate_delete(file_path(token), headers={"X-Delete-Token": "0" * 32})


@row(410, "Gone", "this file is already gone")
def delete_twice(client):
    made = upload(client).json
    headers = {"X-Delete-Token": made["delete_token"]}
    client.simulate_delete(file_path(made["token"]), headers=headers)
    return client.simulate_delete(file_path(made["token"]), headers=headers)


@row(404, "Not Found", NO_SUCH_FILE)
def delete_of_an_unknown_token(client):
    return client.simulate_delete(file_path("0" * 32), headers={"X-Delete-Token": "0" * 32})


@row(405, "Method Not Allowed", f"PUT is not allowed here; this address takes {ALLOWED_FILE}")
def put_to_a_download_url(client):
    return client.simulate_put(file_path("0" * 32))


@row(404, "Not Found", DEFAULT_DETAILS[404])
def an_api_path_that_does_not_exist(client):
    return client.simulate_get("/api/v1.0/nothing-here")


# `curl -T` (PUT /<name>): one line of text


@row(
    400,
    "Bad Request",
    "name the file in the URL: PUT /<name>, as `curl -T report.pdf https://<drop>/` does",
    text=True,
)
def raw_with_a_control_character_in_its_name(client):
    return raw(client, name="a%01b")


@row(400, "Bad Request", f"Drop-Expires-In {EXPIRES}", text=True)
def raw_expiring_soon(client):
    return raw(client, **{"Drop-Expires-In": "soon"})


@row(400, "Bad Request", "Drop-Max-Downloads must be from 1 to 100 downloads, got 0", text=True)
def raw_with_no_downloads(client):
    return raw(client, **{"Drop-Max-Downloads": "0"})


@row(400, "Bad Request", "Drop-Password may be at most 1024 characters", text=True)
def raw_with_a_long_password(client):
    return raw(client, **{"Drop-Password": "p" * 1025})


@row(400, "Bad Request", "the request body ends before its Content-Length", text=True)
def raw_cut_short(client):
    return raw(client, content=b"abc", **{"Content-Length": "10"})


@row(413, "Payload Too Large", f"files may be at most {MAX_BYTES} bytes", text=True)
def raw_too_large(client):
    return raw(client, content=b"x" * (MAX_BYTES + 1))


@row(403, "Forbidden", "uploads from this address are blocked: spam", text=True)
def raw_from_a_blocked_address(client):
    blocks.add_block(blocks.target("address", BLOCKED), "spam", actor="test", now=_now())
    return raw(client, **{"X-Real-IP": BLOCKED})


@row(
    429,
    "Too Many Requests",
    "this address made 1 upload this hour, the most allowed; try again in 3600 seconds",
    text=True,
    uploads_per_hour=1,
)
def raw_past_the_hourly_quota(client):
    raw(client)
    return raw(client)


@row(401, "Unauthorized", "the API token is not valid (unknown, revoked or malformed)", text=True)
def raw_with_an_unknown_api_token(client):
    return raw(client, Authorization="Bearer drop_" + "A" * 40)


@row(404, "Not Found", DEFAULT_DETAILS[404], text=True)
def raw_to_a_path_of_two_segments(client):
    return raw(client, name="dir/report.pdf")


@row(400, "Bad Request", "Drop-Max-Downloads must be from 1 to 100 downloads, got 0")
def raw_asking_for_json(client):
    return raw(client, Accept="application/json", **{"Drop-Max-Downloads": "0"})


# tus (/api/v1.0/uploads)


@row(412, "Precondition Failed", "this server speaks tus 1.0.0: send Tus-Resumable: 1.0.0")
def tus_without_its_version(client):
    return client.simulate_post(TUS, headers={"Upload-Length": "10"})


@row(400, "Bad Request", "send the Upload-Length header: a number of bytes")
def tus_without_a_length(client):
    return client.simulate_post(TUS, headers=TUS_HEADERS)


@row(400, "Bad Request", "Upload-Length must be a whole number of bytes")
def tus_with_a_length_in_words(client):
    return client.simulate_post(TUS, headers={**TUS_HEADERS, "Upload-Length": "ten"})


@row(400, "Bad Request", "this server needs the upload's Upload-Length at creation")
def tus_with_a_deferred_length(client):
    return client.simulate_post(TUS, headers={**TUS_HEADERS, "Upload-Defer-Length": "1"})


@row(413, "Payload Too Large", f"files may be at most {MAX_BYTES} bytes")
def tus_too_large(client):
    return tus_create(client, MAX_BYTES + 1)


@row(400, "Bad Request", "Upload-Metadata is malformed: the value of 'filename' is not base64")
def tus_with_bad_metadata(client):
    return tus_create(client, **{"Upload-Metadata": "filename ***"})


@row(400, "Bad Request", f"expires_in {EXPIRES}")
def tus_expiring_soon(client):
    return tus_create(client, **{"Upload-Metadata": metadata(expires_in="soon")})


@row(400, "Bad Request", "X-HTTP-Method-Override names no method of this URL")
def tus_with_an_unknown_method_override(client):
    return client.simulate_post(TUS, headers={**TUS_HEADERS, "X-HTTP-Method-Override": "BREW"})


@row(404, "Not Found", NO_SUCH_UPLOAD)
def tus_patch_of_an_unknown_upload(client):
    return client.simulate_patch(
        f"{TUS}/{'0' * 32}",
        body=b"x",
        headers={**TUS_HEADERS, "Upload-Offset": "0", "Content-Type": CHUNK},
    )


@row(415, "Unsupported Media Type", f"send the upload's bytes as Content-Type: {CHUNK}")
def tus_patch_of_the_wrong_type(client):
    path = tus_upload_path(client)
    return client.simulate_patch(path, body=b"x", headers={**TUS_HEADERS, "Upload-Offset": "0"})


@row(409, "Conflict", "Upload-Offset is 5, but the upload is at 0")
def tus_patch_at_the_wrong_offset(client):
    path = tus_upload_path(client)
    return client.simulate_patch(
        path, body=b"x", headers={**TUS_HEADERS, "Upload-Offset": "5", "Content-Type": CHUNK}
    )


@row(413, "Payload Too Large", "the body is longer than the 10 bytes the upload lacks")
def tus_patch_past_the_length(client):
    path = tus_upload_path(client)
    return client.simulate_patch(
        path, body=b"x" * 11, headers={**TUS_HEADERS, "Upload-Offset": "0", "Content-Type": CHUNK}
    )


@row(409, "Conflict", "the upload is not complete: 0 of 10 bytes received")
def tus_get_of_an_incomplete_upload(client):
    return client.simulate_get(tus_upload_path(client))


@row(410, "Gone", "this upload was terminated or has expired")
def tus_patch_after_termination(client):
    path = tus_upload_path(client)
    client.simulate_delete(path, headers=TUS_HEADERS)
    return client.simulate_patch(
        path, body=b"x", headers={**TUS_HEADERS, "Upload-Offset": "0", "Content-Type": CHUNK}
    )


@pytest.mark.parametrize(("ask", "status", "error", "detail", "text", "settings"), ROWS)
def test_every_error_says_what_to_fix(
    config, clock, immediate_huey, ask, status, error, detail, text, settings
):
    app = create_app(dataclasses.replace(config, **SETTINGS, **settings), clock=clock)
    answer = ask(falcon.testing.TestClient(app))
    assert answer.status_code == status, answer.text
    if text:
        assert answer.text == f"{status} {error}: {detail}\n"
    else:
        assert answer.json == {"error": error, "detail": detail}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _multipart_request(headers: dict[str, str]) -> dict:
    body, content_type = multipart(b"hello")
    return {"body": body, "headers": {**content_type, **headers}}
