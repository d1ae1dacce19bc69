"""One error serializer: JSON for the API, a readable page (or htmx fragment) for the web page."""

from tests.support.page import HTMX

UNKNOWN = "0" * 32


def test_api_errors_stay_json_even_for_a_browser(client):
    response = client.simulate_get(f"/api/v1.0/file/{UNKNOWN}", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.json == {
        "error": "Not Found",
        "detail": "there is no file with this token; check the link",
    }


def test_page_errors_are_a_whole_page_for_browsers(client):
    response = client.simulate_get(f"/d/{UNKNOWN}", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<!doctype html>")
    assert "<h1>Nothing here</h1>" in response.text


def test_page_errors_are_a_fragment_for_htmx(client):
    response = client.simulate_get(f"/d/{UNKNOWN}", headers=HTMX)
    assert response.status_code == 404
    assert response.text.lstrip().startswith('<div class="card message error-box" role="alert">')
    assert "HX-Request" in response.headers["Vary"]


def test_page_errors_are_json_for_clients_that_ask_for_json(client):
    response = client.simulate_get(f"/d/{UNKNOWN}", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"] == "Not Found"


def test_unknown_page_path_is_a_readable_404(client):
    response = client.simulate_get("/no/such/page")
    assert response.status_code == 404
    assert "Nothing here" in response.text


def test_wrong_method_on_a_page_is_a_readable_405_with_allow(client):
    response = client.simulate_delete("/")  # PUT / is a curl -T without a name
    assert response.status_code == 405
    assert "Method Not Allowed" in response.text
    assert "GET" in response.headers["Allow"]
