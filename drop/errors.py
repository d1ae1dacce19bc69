"""One error serializer: JSON {"error": "<reason phrase>"} for the API, HTML for the web page."""

from __future__ import annotations

import http

import falcon

from drop import pages
from drop.templates import Templates

# Python's phrases follow the newest RFC ("Content Too Large"); the API keeps the
# names its clients already match on.
REASONS = {413: "Payload Too Large"}
# What the web page says instead of a bare reason phrase.
PAGE_HEADINGS = {
    400: "That did not work",
    403: "Not allowed",
    404: "Nothing here",
    410: "This file is gone",
    413: "That file is too large",
    429: "Slow down",
    500: "Something went wrong on our side",
}


def reason(status_code: int) -> str:
    if status_code in REASONS:
        return REASONS[status_code]
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    body = {"error": reason(error.status_code)}
    if error.description:
        body["detail"] = error.description
    resp.media = body
    resp.content_type = falcon.MEDIA_JSON
    resp.append_header("Vary", "Accept")


def error_serializer(templates: Templates):
    """JSON under /api/ (and for clients that ask for it); a readable page everywhere else.

    htmx requests get only the message fragment, which the page swaps in place.
    """

    def serialize(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
        if (
            req.path.startswith("/api/")
            or req.client_prefers((falcon.MEDIA_HTML, falcon.MEDIA_JSON)) != falcon.MEDIA_HTML
        ):
            serialize_error(req, resp, error)
            return
        pages.render(
            templates,
            req,
            resp,
            "error.html",
            "_error.html",
            status=error.status,
            heading=PAGE_HEADINGS.get(error.status_code, reason(error.status_code)),
            message=error.description or "",
        )
        resp.append_header("Vary", "Accept")

    return serialize
