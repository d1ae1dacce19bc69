"""What every HTML page drop serves has in common: its headers, and page-or-fragment."""

from __future__ import annotations

import falcon

from drop.web.templates import Templates

# The page loads only what drop itself serves. No inline script or style is needed
# (htmx's indicator styles are switched off in base.html), and uploads are never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def is_htmx(req: falcon.Request) -> bool:
    """True for htmx's own requests, which want a fragment rather than a whole page."""
    return req.get_header("HX-Request") == "true"


def set_page_headers(resp: falcon.Response) -> None:
    resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Referrer-Policy", "no-referrer")
    # Pages show tokens (and the delete key once); no shared cache may keep them.
    resp.set_header("Cache-Control", "no-store")


def render(
    templates: Templates,
    req: falcon.Request,
    resp: falcon.Response,
    page: str,
    fragment: str,
    status=falcon.HTTP_200,
    **context,
) -> None:
    """Render `fragment` for htmx requests and `page` (which includes it) for everyone else."""
    set_page_headers(resp)
    # One URL answers a whole page or an htmx fragment, depending on HX-Request.
    resp.append_header("Vary", "HX-Request")
    templates.respond(resp, fragment if is_htmx(req) else page, status=status, **context)
