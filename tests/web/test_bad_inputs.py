"""Inputs that once answered 500 get a 4xx, and every drop they touched still downloads."""

from __future__ import annotations

import dataclasses
import re

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import Drop, db
from drop.drops.filenames import sanitize_content_type
from drop.ops.listing import MAX_PAGE
from drop.ops.session import COOKIE_NAME
from tests.support.common import UPLOAD, upload
from tests.support.page import page_upload

ADMIN_TOKEN = "correct-horse-battery-staple"
LONG_NUMBER = "9" * 5000  # past int()'s 4,300-digit limit


def stored(client, content: bytes = b"still here\n") -> dict:
    response = upload(client, content, max_downloads=2)
    assert response.status_code == 201, response.text
    return response.json


def assert_still_downloads(client, made: dict, content: bytes = b"still here\n") -> None:
    """One GET answers 200 with the bytes and uses exactly one download."""
    before = Drop.get(Drop.token == made["token"]).downloads
    response = client.simulate_get(f"{UPLOAD}/{made['token']}")
    assert response.status_code == 200, response.text
    assert response.content == content
    assert Drop.get(Drop.token == made["token"]).downloads == before + 1


def assert_nothing_left_behind(config) -> None:
    assert list((config.data_dir / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    "value",
    [
        "text/plain;\vcharset=utf-8",
        "text/plain;\fcharset=utf-8",
        "text/plain;\x1ccharset=utf-8",
        "text/plain;\x1dcharset=utf-8",
        "text/plain\x1e",
        "\x1ftext/plain",
        "text/pl\u00e4in",
        'text/plain; name="caf\u00e9"',
        "text/plain;\tcharset=utf-8",
        "text/plain; charset",
        "text",
    ],
)
def test_content_types_outside_the_rfc_7231_grammar_become_octet_stream(value):
    assert sanitize_content_type(value) == "application/octet-stream"


@pytest.mark.parametrize(
    "value",
    [
        "text/plain",
        "application/vnd.ms-excel",
        "text/plain; charset=utf-8",
        'text/plain;charset="utf 8"',
        'application/x-thing; a="quoted \\" pair"; b=c',
    ],
)
def test_well_formed_content_types_are_kept_as_sent(value):
    assert sanitize_content_type(value) == value


@pytest.mark.parametrize("field", ["expires_in", "max_downloads"])
def test_a_number_longer_than_int_reads_is_400_on_the_api(client, config, field):
    made = stored(client)
    response = upload(client, **{field: LONG_NUMBER})
    assert response.status_code == 400, response.text
    assert response.json["error"] == "Bad Request"
    assert field in response.json["detail"]
    assert_nothing_left_behind(config)
    assert Drop.select().count() == 1
    assert_still_downloads(client, made)


@pytest.mark.parametrize("field", ["expires_in", "max_downloads"])
def test_a_number_longer_than_int_reads_is_400_on_the_page(client, config, field):
    made = stored(client)
    response = page_upload(client, **{field: LONG_NUMBER})
    assert response.status_code == 400, response.text
    assert field in response.text
    assert_nothing_left_behind(config)
    assert_still_downloads(client, made)


@pytest.fixture
def ops(config, clock, immediate_huey):
    ops_config = dataclasses.replace(config, admin_token=ADMIN_TOKEN)
    yield falcon.testing.TestClient(create_app(ops_config, clock=clock))
    if not db.is_closed():
        db.close()


def ops_session(ops) -> tuple[dict[str, str], dict[str, str]]:
    """Log in to /ops; the session cookie and the CSRF header actions need."""
    response = ops.simulate_post(
        "/ops/login",
        body=f"token={ADMIN_TOKEN}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    cookies = {COOKIE_NAME: response.cookies[COOKIE_NAME].value}
    page = ops.simulate_get("/ops", cookies=cookies).text
    csrf = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page).group(1)
    return cookies, {"X-CSRF-Token": csrf}


@pytest.mark.parametrize("page", [str(MAX_PAGE + 1), "9" * 30, "+" + "9" * 19])
@pytest.mark.parametrize("path", ["/ops", "/ops/drops"])
def test_a_page_number_past_the_last_possible_page_is_400(ops, path, page):
    made = stored(ops)
    cookies, _ = ops_session(ops)
    response = ops.simulate_get(path, params={"page": page}, cookies=cookies)
    assert response.status_code == 400, response.text
    assert f"page must be from 1 to {MAX_PAGE}" in response.text
    assert_still_downloads(ops, made)


def test_control_characters_in_the_name_filter_are_ignored(ops):
    made = stored(ops)
    cookies, _ = ops_session(ops)
    response = ops.simulate_get("/ops/drops", query_string="name=hel%00lo%1f", cookies=cookies)
    assert response.status_code == 200, response.text
    assert "hello.txt" in response.text
    assert_still_downloads(ops, made)


def test_the_last_possible_page_is_an_empty_page(ops):
    cookies, _ = ops_session(ops)
    response = ops.simulate_get("/ops/drops", params={"page": str(MAX_PAGE)}, cookies=cookies)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("drop_id", ["2147483648", "9" * 30, "9" * 5000, "0"])
def test_revoking_an_id_no_row_can_have_is_404(ops, drop_id):
    made = stored(ops)
    cookies, csrf = ops_session(ops)
    response = ops.simulate_post(f"/ops/drops/{drop_id}/revoke", cookies=cookies, headers=csrf)
    assert response.status_code == 404, response.text
    assert_still_downloads(ops, made)
