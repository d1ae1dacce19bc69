"""Front-end assets come from drop itself, htmx included."""


def test_htmx_is_served_from_our_own_static_route(client):
    response = client.simulate_get("/static/vendor/htmx.min.js")
    assert response.status_code == 200
    assert b"htmx" in response.content[:2000]


def test_stylesheet_is_served(client):
    response = client.simulate_get("/static/drop.css")
    assert response.status_code == 200
    assert "prefers-color-scheme" in response.text


def test_static_route_refuses_path_traversal(client):
    assert client.simulate_get("/static/../drop/app.py").status_code == 404
