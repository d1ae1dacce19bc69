"""POST /: uploading through the web page, with htmx and without JavaScript."""

import dataclasses

import falcon.testing
import pytest

from drop.app import create_app
from drop.config import DAY
from drop.db.models import Drop
from drop.resources.page_home import expiry_choices
from tests.support.common import UPLOAD, multipart
from tests.support.page import HTMX, page_upload, share_token


def test_home_page_offers_the_drop_zone_and_the_options(client):
    response = client.simulate_get("/")
    assert response.status_code == 200
    text = response.text
    assert 'type="file"' in text
    assert 'name="password"' in text and 'name="expires_in"' in text
    assert 'name="max_downloads"' in text
    assert 'data-max-bytes="16777216"' in text
    assert 'hx-post="/"' in text and 'action="/" method="post"' in text


def test_htmx_upload_answers_the_result_fragment(client):
    response = page_upload(client, b"abc", filename="notes.txt", max_downloads=2)
    assert response.status_code == 201
    assert "<html" not in response.text
    assert "notes.txt" in response.text
    assert "2 downloads left of 2" in response.text
    assert "<svg" in response.text  # the QR code, rendered on the server
    assert f"/d/{share_token(response)}/delete?key=" in response.text
    assert "HX-Request" in response.headers["Vary"]


def test_upload_without_javascript_answers_a_whole_page(client):
    response = page_upload(client, b"abc", htmx=False, password="pw")
    assert response.status_code == 201
    assert response.text.startswith("<!doctype html>")
    assert "Protected with your password" in response.text
    drop = Drop.get(Drop.token == share_token(response))
    assert drop.size == 3 and drop.password_hash


def test_share_link_points_at_the_page_not_the_api(client):
    response = page_upload(client)
    assert f'value="http://falconframework.org/d/{share_token(response)}"' in response.text
    assert "/api/" not in response.text


def test_chosen_expiry_and_downloads_are_stored(client, clock):
    token = share_token(page_upload(client, expires_in=3600, max_downloads=5))
    drop = Drop.get(Drop.token == token)
    assert (drop.expires_at - clock.now).total_seconds() == 3600
    assert drop.max_downloads == 5


def test_too_large_upload_is_a_413_message_in_place(config, clock, immediate_huey):
    app = create_app(dataclasses.replace(config, max_upload_bytes=10), clock=clock)
    response = page_upload(falcon.testing.TestClient(app), b"x" * 11)
    assert response.status_code == 413
    assert "That file is too large" in response.text
    assert "<html" not in response.text
    assert Drop.select().count() == 0


@pytest.mark.parametrize(
    "fields",
    [{"max_downloads": "0"}, {"max_downloads": "many"}, {"expires_in": str(365 * DAY)}],
)
def test_bad_options_are_a_400_message_in_place(client, fields):
    response = page_upload(client, **fields)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert "That did not work" in response.text


def test_upload_without_a_file_is_a_readable_400_page(client):
    response = client.simulate_post(
        "/", body="password=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert response.text.startswith("<!doctype html>")
    assert "multipart/form-data" in response.text


def test_api_errors_stay_json(client):
    body, headers = multipart(b"x", max_downloads="0")
    response = client.simulate_put(UPLOAD, body=body, headers={**headers, **HTMX})
    assert response.status_code == 400
    assert response.json["error"] == "Bad Request"


def test_expiry_choices_stop_at_the_configured_maximum(config):
    capped = dataclasses.replace(config, max_expires_in=2 * DAY)
    assert [c.seconds for c in expiry_choices(capped)] == [3600, DAY, 2 * DAY]
    assert [c.words for c in expiry_choices(capped)] == ["1 hour", "1 day", "2 days"]
    assert [c.seconds for c in expiry_choices(capped) if c.selected] == [DAY]
