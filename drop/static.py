"""Front-end assets drop serves itself: our CSS and JS, and htmx and tus-js-client from npm."""

from __future__ import annotations

from pathlib import Path

import falcon

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
HTMX_DIR = ROOT / "node_modules" / "htmx.org" / "dist"
TUS_DIR = ROOT / "node_modules" / "tus-js-client" / "dist"


def add_static_routes(app: falcon.App) -> None:
    """/static/… for our files, /static/vendor/… for htmx and /static/vendor/tus/… for
    tus-js-client (`make setup` runs npm ci)."""
    # Falcon tries static routes newest first, so the narrower prefixes go last.
    app.add_static_route("/static", str(STATIC_DIR))
    app.add_static_route("/static/vendor", str(HTMX_DIR))
    app.add_static_route("/static/vendor/tus", str(TUS_DIR))
