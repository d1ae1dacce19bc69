"""PUT /<name>: transfer.sh's `curl -T` convention, the raw body stored as a drop.

The same limits, options and answers as the multipart upload, with the name from the URL,
the options from headers, the share link as one line of text (or the API's JSON).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from urllib.parse import quote

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import Drop, db
from tests.support.common import upload
from tests.support.page import press_download
from tests.web.test_metrics import scrape, value

SHARE_LINK = re.compile(r"http://falconframework\.org/d/([0-9a-f]{32})\n")
TEXT = "text/plain; charset=utf-8"
JSON = {"Accept": "application/json"}


def put(client, name: str = "report.pdf", content: bytes = b"%PDF-1.7 hello", **headers):
    return client.simulate_put(f"/{name}", body=content, headers=headers)


def token_of(response) -> str:
    return SHARE_LINK.fullmatch(response.text).group(1)


@pytest.fixture
def limited(config, clock, immediate_huey):
    """A client of the app with some settings changed."""

    def build(**settings) -> falcon.testing.TestClient:
        return falcon.testing.TestClient(
            create_app(dataclasses.replace(config, **settings), clock=clock)
        )

    yield build
    if not db.is_closed():
        db.close()


def test_put_answers_201_with_the_share_link_and_a_newline(client):
    response = put(client)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == TEXT
    token = token_of(response)
    api_url = f"http://falconframework.org/api/v1.0/file/{token}"
    assert response.headers["Drop-Share-Url"] == f"http://falconframework.org/d/{token}"
    assert response.headers["Drop-Url"] == api_url
    assert response.headers["Location"] == api_url
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["Drop-Delete-Token"])
    assert response.headers["Cache-Control"] == "no-store"


def test_the_link_opens_the_share_page_and_the_api_url_downloads_the_exact_bytes(client):
    content = bytes(range(256)) * 40
    response = put(client, "data.bin", content, **{"Drop-Max-Downloads": "2"})
    token = token_of(response)
    page = client.simulate_get(f"/d/{token}")
    assert page.status_code == 200
    assert "data.bin" in page.text
    assert press_download(client, token).content == content
    download = client.simulate_get(f"/api/v1.0/file/{token}")
    assert download.status_code == 200
    assert download.content == content
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 410


def test_the_drop_records_name_size_hash_and_a_type_guessed_from_the_name(client):
    token = token_of(put(client, "report.pdf", b"%PDF-1.7 hello"))
    drop = Drop.get(Drop.token == token)
    assert drop.filename == "report.pdf"
    assert drop.size == 14
    assert drop.sha256 == hashlib.sha256(b"%PDF-1.7 hello").hexdigest()
    assert drop.content_type == "application/pdf"
    assert drop.max_downloads == 1


@pytest.mark.parametrize(
    ("name", "sent", "stored"),
    [
        ("notes.txt", "text/markdown; charset=utf-8", "text/markdown; charset=utf-8"),
        ("notes.txt", None, "text/plain"),
        ("report.pdf", "application/octet-stream", "application/pdf"),
        ("report.pdf", "application/x-www-form-urlencoded", "application/pdf"),
        ("report.pdf", "not a type", "application/pdf"),
        ("logs.tar.gz", None, "application/gzip"),
        ("no-extension", None, "application/octet-stream"),
    ],
)
def test_the_sent_content_type_is_kept_when_it_names_a_type(client, name, sent, stored):
    headers = {"Content-Type": sent} if sent else {}
    token = token_of(put(client, name, **headers))
    assert Drop.get(Drop.token == token).content_type == stored


@pytest.mark.parametrize(
    ("path", "stored"),
    [
        ("/caf%C3%A9%20menu.txt", "café menu.txt"),
        ("/invoice%E2%80%AEfdp.exe", "invoicefdp.exe"),
        ("/a%5C..%5Cb.txt", "b.txt"),
        ("/%FF.txt", "\ufffd.txt"),
    ],
)
def test_the_name_is_percent_decoded_and_sanitized(client, path, stored):
    token = token_of(client.simulate_put(path, body=b"x"))
    assert Drop.get(Drop.token == token).filename == stored


def test_a_name_too_long_is_shortened_keeping_its_extension(client):
    token = token_of(put(client, "n" * 400 + ".txt"))
    filename = Drop.get(Drop.token == token).filename
    assert len(filename) == 255
    assert filename.endswith("nnn.txt")


def test_options_come_from_headers(client, clock):
    response = put(
        client,
        **{"Drop-Password": "correct horse", "Drop-Expires-In": "60", "Drop-Max-Downloads": "3"},
    )
    drop = Drop.get(Drop.token == token_of(response))
    assert (drop.expires_at - clock.now).total_seconds() == 60
    assert drop.max_downloads == 3
    assert drop.password_hash.startswith("scrypt$")
    url = f"/api/v1.0/file/{drop.token}"
    assert client.simulate_get(url).status_code == 401
    assert client.simulate_get(url, headers={"X-Drop-Password": "correct horse"}).status_code == 200


def test_a_password_typed_in_utf8_opens_the_drop_on_the_page_and_in_the_api(client):
    # A terminal sends the header's UTF-8 bytes; WSGI hands them over as Latin-1.
    typed = "pässwörd".encode().decode("latin-1")
    token = token_of(put(client, **{"Drop-Password": typed, "Drop-Max-Downloads": "2"}))
    assert press_download(client, token, quote("pässwörd")).status_code == 200
    opened = client.simulate_get(f"/api/v1.0/file/{token}", headers={"X-Drop-Password": typed})
    assert opened.status_code == 200


def test_accept_json_answers_exactly_the_apis_json(client, clock):
    raw = put(client, **JSON, **{"Drop-Max-Downloads": "4", "Drop-Expires-In": "120"})
    api = upload(client, max_downloads=4, expires_in=120)
    assert raw.status_code == api.status_code == 201
    assert raw.headers["Content-Type"] == api.headers["Content-Type"] == "application/json"
    assert raw.json.keys() == api.json.keys()
    per_drop = ("url", "share_url", "token", "delete_token")
    assert {k: v for k, v in raw.json.items() if k not in per_drop} == {
        k: v for k, v in api.json.items() if k not in per_drop
    }
    assert raw.json["url"] == raw.headers["Drop-Url"]
    assert raw.json["delete_token"] == raw.headers["Drop-Delete-Token"]
    assert raw.json["share_url"] == raw.headers["Drop-Share-Url"]
    assert raw.json["url"].endswith(raw.json["token"])


def test_the_delete_token_header_deletes_the_drop(client, blobs):
    response = put(client)
    token = token_of(response)
    deleted = client.simulate_delete(
        f"/api/v1.0/file/{token}",
        headers={"X-Delete-Token": response.headers["Drop-Delete-Token"]},
    )
    assert deleted.status_code == 204
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 410
    assert not blobs.exists(token)


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"Drop-Max-Downloads": "0"}, "{} must be from 1 to 100 downloads, got 0"),
        ({"Drop-Max-Downloads": "lots"}, "{} must be a whole number of downloads from 1 to 100"),
        ({"Drop-Expires-In": "604801"}, "{} must be from 1 to 604800 seconds, got 604801"),
        ({"Drop-Expires-In": "9" * 40}, "{} must be a whole number of seconds from 1 to 604800"),
        ({"Drop-Password": "p" * 1025}, "{} may be at most 1024 characters"),
    ],
)
def test_bad_options_are_400_with_the_forms_messages_naming_the_header(
    client, config, headers, detail, uploads_in_flight
):
    """The same checks as the form's, each error naming what the client sent: the header
    for `curl -T`, the field for the form."""
    ((header, value),) = headers.items()
    field = header.lower()[5:].replace("-", "_")
    response = put(client, **headers)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == TEXT
    assert response.text == f"400 Bad Request: {detail.format(header)}\n"
    form = upload(client, **{field: value})
    assert form.json["detail"] == detail.format(field)
    assert Drop.select().count() == 0
    assert uploads_in_flight() == []


def test_errors_are_json_for_a_client_that_asks_for_json(client):
    response = put(client, **JSON, **{"Drop-Max-Downloads": "0"})
    assert response.status_code == 400
    assert response.json == {
        "error": "Bad Request",
        "detail": "Drop-Max-Downloads must be from 1 to 100 downloads, got 0",
    }
    assert "Accept" in response.headers["Vary"]


def test_an_empty_file_is_a_drop_as_on_every_other_upload_path(client):
    response = put(client, content=b"")
    assert response.status_code == 201, response.text
    link = response.headers["Drop-Url"]
    downloaded = client.simulate_get(link.removeprefix("http://falconframework.org"))
    assert (downloaded.status_code, downloaded.content) == (200, b"")
    assert upload(client, b"").status_code == 201


@pytest.mark.parametrize("path", ["/%00", "/..", "/.", "/a%0Ab"])
def test_a_name_with_control_characters_or_dots_only_is_400(client, config, path):
    response = client.simulate_put(path, body=b"x")
    assert response.status_code == 400
    assert response.text.startswith("400 Bad Request: name the file in the URL")
    assert Drop.select().count() == 0


@pytest.mark.parametrize("path", ["/a%2Fb.txt", "/dir/b.txt", "/report.pdf/"])
def test_a_path_of_more_than_one_segment_is_404(client, path):
    response = client.simulate_put(path, body=b"x")
    assert response.status_code == 404
    assert response.text == "404 Not Found: there is nothing at this address; check the link\n"


def test_put_without_a_name_is_400_saying_how(client):
    response = client.simulate_put("/", body=b"x")
    assert response.status_code == 400
    assert "PUT /<name>" in response.text


def test_a_body_over_the_limit_is_413_by_its_content_length(limited, config):
    client = limited(max_upload_bytes=10)
    response = put(client, content=b"x" * 11)
    assert response.status_code == 413
    assert response.text == "413 Payload Too Large: files may be at most 10 bytes\n"
    assert put(client, content=b"x" * 10).status_code == 201


def test_below_the_free_space_floor_uploads_are_507(limited, config, blob_dir):
    response = put(limited(min_free_bytes=2**62))
    assert response.status_code == 507
    assert response.text.startswith("507 Insufficient Storage: the server is keeping")
    assert Drop.select().count() == 0


def test_uploads_past_the_hourly_quota_are_429_and_shared_with_the_api(limited, clock):
    client = limited(uploads_per_hour=2)
    assert put(client).status_code == 201
    assert upload(client).status_code == 201
    refused = put(client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3600"
    assert refused.text.startswith("429 Too Many Requests: this address made 2 uploads this hour")
    clock.advance(3600)
    assert put(client).status_code == 201


def test_refused_uploads_use_none_of_the_quota(limited):
    client = limited(uploads_per_hour=1, max_upload_bytes=5)
    assert put(client, content=b"x" * 6).status_code == 413
    assert put(client, **{"Drop-Max-Downloads": "0"}).status_code == 400
    assert put(client, content=b"x").status_code == 201


def test_uploads_are_counted_in_the_metrics(client):
    before = scrape(client)
    put(client, content=b"12345")
    after = scrape(client)
    assert value(after, "drop_uploads_total") - value(before, "drop_uploads_total") == 1
    assert (
        value(after, "drop_received_bytes_total") - value(before, "drop_received_bytes_total") == 5
    )
    assert value(after, "drop_request_duration_seconds_count", method="PUT", route="/{name}") >= 1


@pytest.mark.parametrize(
    "path", ["/", "/healthz", "/readyz", "/metrics", "/static/drop.css", "/static/favicon.svg"]
)
def test_existing_pages_keep_answering_get(client, path):
    assert client.simulate_get(path).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/readyz"])
def test_put_on_an_existing_page_is_405_not_an_upload(client, path):
    assert client.simulate_put(path, body=b"x").status_code == 405
    assert Drop.select().count() == 0


@pytest.mark.parametrize("path", ["/favicon.ico", "/robots.txt", "/report.pdf"])
def test_get_of_a_name_stays_a_404_page(client, path):
    response = client.simulate_get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


def test_post_to_a_name_is_not_an_upload(client):
    assert client.simulate_post("/report.pdf", body=b"x").status_code == 405
    assert Drop.select().count() == 0


def test_the_api_and_the_page_are_unchanged(client):
    assert upload(client).status_code == 201
    assert client.simulate_put("/api/v1.0/file/x").json["error"] == "Method Not Allowed"
