"""The files drop ships inside its package and finds with importlib.resources.

The repository keeps `templates/`, `migrations/` and `ops/` at its top level; setup.py maps each
into the package as `drop.bundled.<name>`. An editable install (a checkout) and an installed
wheel resolve those names the same way, so no code looks for a path above the package.
Our own CSS, JavaScript and the vendored front-end libraries live in `drop/assets/`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DIRECTORIES = ("templates", "migrations", "ops")


class MissingResource(RuntimeError):
    """The install lacks a file drop needs to run: a broken wheel or a stale editable install."""


def directory(name: str) -> Path:
    """One bundled tree (`assets`, `templates`, `migrations` or `ops`), or MissingResource."""
    if name == "assets":
        found = resources.files("drop") / "assets"
    elif name in DIRECTORIES:
        try:
            found = resources.files(f"drop.bundled.{name}")
        except ModuleNotFoundError:
            raise MissingResource(_missing(f"drop.bundled.{name}")) from None
    else:
        raise ValueError(f"not a bundled directory: {name!r}")
    # pip installs wheels unpacked, so a bundled tree is a real directory on disk: gunicorn,
    # nginx and Jinja2 are handed its path.
    path = Path(str(found))
    if not path.is_dir():
        raise MissingResource(_missing(str(path)))
    return path


def file(name: str, *parts: str) -> Path:
    """One bundled file, e.g. `file("ops", "gunicorn.conf.py")`, or MissingResource."""
    path = directory(name).joinpath(*parts)
    if not path.is_file():
        raise MissingResource(_missing(str(path)))
    return path


def verify() -> None:
    """Fail at start, not at the first request, when the install lacks a file drop serves."""
    for name in ("assets", *DIRECTORIES):
        directory(name)
    file("ops", "gunicorn.conf.py")
    file("ops", "nginx.conf")
    file("templates", "home.html")
    file("assets", "vendor", "htmx.min.js")
    file("assets", "vendor", "tus", "tus.min.js")


def _missing(what: str) -> str:
    return (
        f"{what} is missing from this install of drop; reinstall the wheel, "
        "or rerun `make setup` in a checkout"
    )
