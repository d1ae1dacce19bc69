"""Front-end assets drop serves itself: our CSS and JS, and htmx installed from npm."""

from __future__ import annotations

from pathlib import Path

import falcon

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
HTMX_DIR = ROOT / "node_modules" / "htmx.org" / "dist"


def add_static_routes(app: falcon.App) -> None:
    """/static/… for our files, /static/vendor/… for htmx (`make setup` runs npm ci)."""
    # Falcon tries static routes newest first, so the narrower prefix goes last.
    app.add_static_route("/static", str(STATIC_DIR))
    app.add_static_route("/static/vendor", str(HTMX_DIR))
