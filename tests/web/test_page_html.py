"""Every rendered page: labelled controls, only our own resources, strict headers."""

import pytest

from tests.support.html_checks import foreign_urls, unlabelled_controls
from tests.support.page import HTMX, delete_key, page_upload, press_download, share_token

OWN_ORIGIN = "http://falconframework.org"  # falcon's TestClient host


def rendered_pages(client) -> dict[str, object]:
    result = page_upload(client, password="pw", max_downloads=2)
    token, key = share_token(result), delete_key(result)
    plain_token = share_token(page_upload(client))
    return {
        "home": client.simulate_get("/"),
        "result fragment": result,
        "result page": page_upload(client, htmx=False),
        "share page": client.simulate_get(f"/d/{plain_token}"),
        "share page with password": client.simulate_get(f"/d/{token}"),
        "share fragment": client.simulate_get(f"/d/{token}", headers=HTMX),
        "wrong password": press_download(client, token, "nope"),
        "delete page": client.simulate_get(f"/d/{token}/delete", params={"key": key}),
        "not found": client.simulate_get("/d/" + "0" * 32),
    }


@pytest.fixture
def pages(client):
    return rendered_pages(client)


def test_every_form_control_has_a_label(pages):
    for name, response in pages.items():
        assert unlabelled_controls(response.text) == [], name


def test_pages_load_nothing_from_another_host(pages):
    for name, response in pages.items():
        assert foreign_urls(response.text, OWN_ORIGIN) == [], name
        assert "default-src 'self'" in response.headers["Content-Security-Policy"], name


def test_pages_are_never_cached_and_never_sniffed(pages):
    for name, response in pages.items():
        assert response.headers["Cache-Control"] == "no-store", name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
