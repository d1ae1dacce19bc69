"""ops/sharex.sxcu, ShareX's custom-uploader file: valid, and its request works against drop.

The request is built from the file's own fields, as ShareX builds it: method, URL,
headers (with a real token in place of the placeholder), a multipart body with the file
under FileFormName; then its `{json:…}` answers are resolved from drop's JSON.
"""

from __future__ import annotations

import dataclasses
import json
import re
from urllib.parse import urlsplit

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import db
from drop.protection import api_tokens
from tests.support.common import ROOT, multipart

SXCU = ROOT / "ops" / "sharex.sxcu"
PLACEHOLDER = "PASTE_YOUR_DROP_TOKEN_HERE"
JSON_SYNTAX = re.compile(r"\{json:([a-z_]+)\}")


def uploader() -> dict:
    return json.loads(SXCU.read_text(encoding="utf-8"))


def resolve(template: str, answer: dict) -> str:
    """ShareX's `{json:key}`: the value of `key` in the answer's JSON."""
    return JSON_SYNTAX.sub(lambda match: str(answer[match[1]]), template)


@pytest.fixture
def token_only_client(config, clock, immediate_huey):
    """A drop that takes uploads from tokens only, so the file's header must do its job."""
    client = falcon.testing.TestClient(
        create_app(dataclasses.replace(config, anonymous_uploads=False), clock=clock)
    )
    yield client
    if not db.is_closed():
        db.close()


def sharex_request(client, secret: str, content: bytes, filename: str):
    spec = uploader()
    headers = {name: value.replace(PLACEHOLDER, secret) for name, value in spec["Headers"].items()}
    assert spec["Body"] == "MultipartFormData"
    body, form_headers = multipart(content, filename=filename, content_type="image/png")
    body = body.replace(b'name="file"', f'name="{spec["FileFormName"]}"'.encode())
    return client.simulate_request(
        spec["RequestMethod"],
        urlsplit(spec["RequestURL"]).path,
        body=body,
        headers={**headers, **form_headers},
    )


def test_the_sxcu_file_is_a_custom_uploader_for_drops_upload_api():
    spec = uploader()
    assert spec["RequestMethod"] == "PUT"
    assert urlsplit(spec["RequestURL"]).path == "/api/v1.0/file"
    assert spec["Body"] == "MultipartFormData"
    assert spec["FileFormName"] == "file"
    assert spec["Headers"] == {"Authorization": f"Bearer {PLACEHOLDER}"}
    # The share page, not the direct download: a chat's link preview must not use it up.
    assert spec["URL"] == "{json:share_url}"
    assert "FileUploader" in spec["DestinationType"]


def test_the_sxcu_request_uploads_and_its_links_work(token_only_client, clock):
    client = token_only_client
    secret = api_tokens.issue("sharex", now=clock()).secret
    screenshot = b"\x89PNG\r\n\x1a\n not really a picture"
    answer = sharex_request(client, secret, screenshot, "Screenshot 2026-11-25.png")
    assert answer.status_code == 201, answer.text
    spec = uploader()

    share = urlsplit(resolve(spec["URL"], answer.json))
    page = client.simulate_get(share.path)
    assert page.status_code == 200
    assert "Screenshot 2026-11-25.png" in page.text
    deletion = urlsplit(resolve(spec["DeletionURL"], answer.json))
    asked = client.simulate_get(deletion.path, query_string=deletion.query)
    assert asked.status_code == 200
    assert ">Delete the file</button>" in asked.text  # the right key: it asks to confirm
    download = client.simulate_get(urlsplit(answer.json["url"]).path)
    assert download.content == screenshot


def test_the_sxcu_error_message_reads_drops_error(token_only_client):
    answer = sharex_request(token_only_client, "drop_" + "0" * 40, b"x", "a.png")
    assert answer.status_code == 401
    message = resolve(uploader()["ErrorMessage"], answer.json)
    assert message.startswith("Unauthorized: the API token is not valid")
