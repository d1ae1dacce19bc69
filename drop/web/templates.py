"""Jinja2 rendering for the web pages: autoescaped, templates from `templates/` (drop.bundled)."""

from __future__ import annotations

from pathlib import Path

import falcon
import jinja2

from drop import bundled


class Templates:
    """Renders templates into Falcon responses; `globals` are visible to every template."""

    def __init__(self, directory: Path | None = None, **globals):
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory or bundled.directory("templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.globals.update(globals)

    def render(self, name: str, **context) -> str:
        return self._env.get_template(name).render(**context)

    def respond(self, resp: falcon.Response, name: str, status=falcon.HTTP_200, **context) -> None:
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self.render(name, **context)
