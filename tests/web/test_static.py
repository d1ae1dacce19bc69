"""Front-end assets come from drop itself, htmx included."""

import json

import pytest

from drop import bundled
from tests.support.common import ROOT


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


def test_tus_client_is_served_from_our_own_static_route(client):
    response = client.simulate_get("/static/vendor/tus/tus.min.js")
    assert response.status_code == 200
    assert b"tus" in response.content[:2000]


@pytest.mark.parametrize(
    ("vendored", "from_npm"),
    [
        ("htmx.min.js", "htmx.org/dist/htmx.min.js"),
        ("tus/tus.min.js", "tus-js-client/dist/tus.min.js"),
    ],
)
def test_vendored_library_is_the_one_package_lock_pins(vendored, from_npm):
    # `make setup` runs `npm ci`, which installs exactly what package-lock.json pins; the
    # copy the package ships must be that file (`make vendor` refreshes it).
    lock = json.loads((ROOT / "package-lock.json").read_text())
    package = from_npm.split("/dist/")[0]
    pinned = lock["packages"][f"node_modules/{package}"]["version"]
    installed = json.loads((ROOT / "node_modules" / package / "package.json").read_text())
    assert installed["version"] == pinned, "run `make setup`: node_modules is stale"
    shipped = bundled.file("assets", "vendor", *vendored.split("/")).read_bytes()
    assert shipped == (ROOT / "node_modules" / from_npm).read_bytes(), "run `make vendor`"
