"""Helpers for the web page's tests: uploading through the page and reading its answers."""

from __future__ import annotations

import re

from tests.support.common import multipart

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HTMX = {"HX-Request": "true"}
SHARE_LINK = re.compile(r"/d/([0-9a-f]{32})")
DELETE_LINK = re.compile(r"/d/([0-9a-f]{32})/delete\?key=([0-9a-f]{32})")


def page_upload(client, content: bytes = b"hello drop\n", htmx: bool = True, **kwargs):
    """POST a file to the home page, as htmx does (or as a plain form without JavaScript)."""
    body, headers = multipart(content, **kwargs)
    if htmx:
        headers.update(HTMX)
    return client.simulate_post("/", body=body, headers=headers)


def share_token(response) -> str:
    return SHARE_LINK.search(response.text).group(1)


def delete_key(response) -> str:
    return DELETE_LINK.search(response.text).group(2)


def press_download(client, token: str, password: str | None = None):
    """The share page's Download button: a url-encoded form POST."""
    body = "" if password is None else f"password={password}"
    return client.simulate_post(f"/d/{token}", body=body, headers=FORM)
