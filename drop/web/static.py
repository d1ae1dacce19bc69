"""Front-end assets drop serves itself: our CSS and JS, and the vendored htmx and tus-js-client."""

from __future__ import annotations

import falcon

from drop import bundled


def add_static_routes(app: falcon.App) -> None:
    """/static/… from drop/assets/: ours, and htmx and tus-js-client in vendor/ (`make vendor`
    copies them from node_modules, as package-lock.json pins them)."""
    app.add_static_route("/static", str(bundled.directory("assets")))
