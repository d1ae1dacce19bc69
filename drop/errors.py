"""One error serializer: every error leaves as JSON {"error": "<reason phrase>"}."""

from __future__ import annotations

import http

import falcon

# Python's phrases follow the newest RFC ("Content Too Large"); the API keeps the
# names its clients already match on.
REASONS = {413: "Payload Too Large"}


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
