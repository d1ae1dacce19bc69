"""/d/<token>: the share page shows a drop for free; only its Download button uses one."""

import pytest

from drop.db.models import Drop
from tests.support.page import FORM, HTMX, page_upload, press_download, share_token


def downloads_used(token: str) -> int:
    return Drop.get(Drop.token == token).downloads


def test_share_page_shows_name_size_expiry_and_downloads_left(client):
    token = share_token(page_upload(client, b"12345", filename="report.pdf", max_downloads=3))
    response = client.simulate_get(f"/d/{token}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "report.pdf" in response.text
    assert "5 bytes" in response.text
    assert "in 1 day" in response.text
    assert "3 downloads left of 3" in response.text
    assert ">Download</button>" in response.text


def test_twenty_preview_fetches_use_no_download(client):
    token = share_token(page_upload(client, max_downloads=2))
    for _ in range(20):
        assert client.simulate_get(f"/d/{token}").status_code == 200
        assert client.simulate_head(f"/d/{token}").status_code == 200
    assert downloads_used(token) == 0
    assert "2 downloads left of 2" in client.simulate_get(f"/d/{token}").text


def test_download_button_sends_the_bytes_as_an_attachment(client):
    token = share_token(page_upload(client, b"<html>not our page</html>", content_type="text/html"))
    response = press_download(client, token)
    assert response.status_code == 200
    assert response.content == b"<html>not our page</html>"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert downloads_used(token) == 1


def test_share_page_of_a_used_up_drop_is_a_friendly_410(client):
    token = share_token(page_upload(client))
    press_download(client, token)
    response = client.simulate_get(f"/d/{token}")
    assert response.status_code == 410
    assert response.headers["Content-Type"].startswith("text/html")
    assert "This file is gone" in response.text


def test_second_press_of_a_one_time_drop_is_410(client):
    token = share_token(page_upload(client))
    assert press_download(client, token).status_code == 200
    assert press_download(client, token).status_code == 410


def test_expired_drop_page_is_410(client, clock):
    token = share_token(page_upload(client, expires_in=60))
    clock.advance(61)
    assert client.simulate_get(f"/d/{token}").status_code == 410


@pytest.mark.parametrize("token", ["0" * 32, "not-a-token", "ABCDEF" * 6])
def test_unknown_or_malformed_token_is_a_friendly_404(client, token):
    response = client.simulate_get(f"/d/{token}")
    assert response.status_code == 404
    assert "Nothing here" in response.text


def test_protected_drop_shows_a_password_field(client):
    token = share_token(page_upload(client, password="pw"))
    assert 'name="password" type="password"' in client.simulate_get(f"/d/{token}").text


@pytest.mark.parametrize("htmx", [False, True])
def test_protected_drop_page_shows_no_name_size_or_type(client, htmx):
    made = page_upload(
        client,
        b"12345",
        filename="salaries-2026.xlsx",
        content_type="application/x-secret",
        password="pw",
    )
    token = share_token(made)
    for answer in (
        client.simulate_get(f"/d/{token}", headers=HTMX if htmx else {}),
        client.simulate_head(f"/d/{token}"),
        press_download(client, token, "wrong"),
    ):
        assert answer.status_code in (200, 401)
        for secret in ("salaries", "xlsx", "x-secret", "5 bytes"):
            assert secret not in answer.text
            assert all(secret not in value for value in answer.headers.values())
    assert "A password-protected file" in client.simulate_get(f"/d/{token}").text
    assert downloads_used(token) == 0


def test_right_password_reveals_the_name_with_the_file(client):
    token = share_token(page_upload(client, b"12345", filename="salaries.xlsx", password="pw"))
    response = press_download(client, token, "pw")
    assert response.status_code == 200
    assert 'filename="salaries.xlsx"' in response.headers["Content-Disposition"]


@pytest.mark.parametrize("password", [None, "", "wrong"])
def test_wrong_password_is_shown_inline_with_the_form_and_uses_no_download(client, password):
    token = share_token(page_upload(client, b"secret", password="pw"))
    response = press_download(client, token, password)
    assert response.status_code == 401
    assert 'role="alert"' in response.text
    assert 'name="password" type="password"' in response.text
    assert ">Download</button>" in response.text
    assert downloads_used(token) == 0


def test_right_password_downloads(client):
    token = share_token(page_upload(client, b"secret", password="pw"))
    assert press_download(client, token, "pw").content == b"secret"


def test_download_form_refuses_a_body_that_is_not_a_form(client):
    token = share_token(page_upload(client, password="pw"))
    response = client.simulate_post(
        f"/d/{token}", body='{"password": "pw"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 415
    assert downloads_used(token) == 0


def test_share_page_varies_on_hx_request_and_serves_a_fragment_to_htmx(client):
    token = share_token(page_upload(client))
    page = client.simulate_get(f"/d/{token}")
    fragment = client.simulate_get(f"/d/{token}", headers=HTMX)
    assert "HX-Request" in page.headers["Vary"]
    assert "<html" in page.text
    assert "<html" not in fragment.text and 'id="share"' in fragment.text


def test_user_text_is_escaped_on_the_share_page(client):
    token = share_token(page_upload(client, filename="<img src=x onerror=alert(1)>.txt"))
    text = client.simulate_get(f"/d/{token}").text
    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in text


def test_download_form_refuses_an_oversized_body_before_reading_it(client):
    token = share_token(page_upload(client, password="pw"))
    response = client.simulate_post(f"/d/{token}", body="password=" + "x" * 100_000, headers=FORM)
    assert response.status_code == 413
    assert downloads_used(token) == 0
