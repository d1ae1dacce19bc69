"""One error serializer: JSON {"error": "<reason phrase>"} for the API, HTML for the web page,
one line of plain text for command-line uploads (`curl -T`)."""

from __future__ import annotations

import http
import logging

import falcon

from drop.refusals import Conflict, Gone, Invalid, NotFound, Refused, TooLarge, Withheld
from drop.runtime.logs import first_line
from drop.storage.disk import disk_full_error, is_disk_full
from drop.web import pages
from drop.web.templates import Templates

log = logging.getLogger(__name__)

# How long a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 5

# Python's phrases follow the newest RFC ("Content Too Large"); the API keeps the
# names its clients already match on.
REASONS = {413: "Payload Too Large", 423: "Being Checked"}
# What the web page says instead of a bare reason phrase.
PAGE_HEADINGS = {
    400: "That did not work",
    403: "Not allowed",
    404: "Nothing here",
    410: "This file is gone",
    423: "This file is being checked",
    451: "This file is not available",
    413: "That file is too large",
    507: "No room for more files right now",
    429: "Slow down",
    500: "Something went wrong on our side",
    503: "drop is unavailable for a moment",
}


# What a drop withheld by the operator (blocked content) says, on the page and in the API.
WITHHELD = "The operator of this service has withheld this file; it cannot be downloaded."


def unavailable_for_legal_reasons(description: str = WITHHELD) -> falcon.HTTPError:
    """The one 451 every withheld drop answers with, whatever withheld it.

    The error serializer turns it into `{"error": "Unavailable For Legal Reasons"}` for the
    API and a page saying so for browsers; it is never cached (drop.web.error_cache).
    """
    return falcon.HTTPUnavailableForLegalReasons(description=description)


# Each kind of domain refusal (drop/refusals.py) and the HTTP error that answers it.
REFUSAL_ERRORS: dict[type[Refused], type[falcon.HTTPError]] = {
    Invalid: falcon.HTTPBadRequest,
    NotFound: falcon.HTTPNotFound,
    Gone: falcon.HTTPGone,
    Conflict: falcon.HTTPConflict,
    TooLarge: falcon.HTTPContentTooLarge,
}


def http_error(refusal: Refused) -> falcon.HTTPError:
    """The HTTP error that answers a domain refusal: its kind's status, its description."""
    if isinstance(refusal, Withheld):
        return unavailable_for_legal_reasons(refusal.description or WITHHELD)
    for kind, error in REFUSAL_ERRORS.items():
        if isinstance(refusal, kind):
            return error(description=refusal.description)
    raise TypeError(f"no HTTP error answers {type(refusal).__name__}")


def refusal_status(refusal: Refused) -> str:
    """The status line of a refusal's answer ("409 Conflict"), for a page that renders it."""
    return http_error(refusal).status


def refused(req: falcon.Request, resp: falcon.Response, ex: Refused, params) -> None:
    """Falcon error handler: a refusal from the domain, answered as its HTTP error."""
    raise http_error(ex)


def reason(status_code: int) -> str:
    if status_code in REASONS:
        return REASONS[status_code]
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


# What an error raised without a description (Falcon's router, a bare raise) says.
DEFAULT_DETAILS = {
    400: "the request is malformed",
    404: "there is nothing at this address; check the link",
    410: "this file is gone: it was downloaded as often as allowed, expired or was deleted",
    500: "something went wrong on the server; it has been logged",
}


def detail(req: falcon.Request, error: falcon.HTTPError) -> str:
    """What the client should know or fix: the error's description, or a default for its
    status. Every error the API gives carries one."""
    if error.description:
        return error.description
    if error.status_code == 405:
        allowed = dict(error.headers or {}).get("Allow", "")
        return f"{req.method} is not allowed here; this address takes {allowed or 'none'}"
    return DEFAULT_DETAILS.get(error.status_code, reason(error.status_code).lower())


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    body = {"error": reason(error.status_code), "detail": detail(req, error)}
    resp.media = body
    resp.content_type = falcon.MEDIA_JSON
    resp.append_header("Vary", "Accept")


def prefers_json_to_text(req: falcon.Request) -> bool:
    """Whether a command-line client asked for JSON (curl itself sends `Accept: */*`)."""
    return req.client_prefers((falcon.MEDIA_TEXT, falcon.MEDIA_JSON)) == falcon.MEDIA_JSON


def serialize_error_text(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError):
    """`413 Payload Too Large: files may be at most … bytes`, on one line for a terminal."""
    line = f"{error.status_code} {reason(error.status_code)}: {detail(req, error)}"
    resp.text = line + "\n"
    resp.content_type = falcon.MEDIA_TEXT
    resp.append_header("Vary", "Accept")


def error_serializer(templates: Templates):
    """JSON under /api/ (and for clients that ask for it); a readable page everywhere else.

    htmx requests get only the message fragment, which the page swaps in place. A PUT
    outside the API is a command-line upload (the page never sends one): plain text.
    """

    def serialize(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
        if req.method == "PUT" and not req.path.startswith("/api/"):
            if prefers_json_to_text(req):
                serialize_error(req, resp, error)
            else:
                serialize_error_text(req, resp, error)
            return
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


# How long a client should wait before asking again for a file whose scan is pending.
SCAN_RETRY_AFTER_SECONDS = 10
MALWARE = "it was found to contain malware, and it will not be served again"
BEING_CHECKED = "this file is being checked for malware; try again in a moment"


def being_checked(description: str = BEING_CHECKED) -> falcon.HTTPError:
    """423 for a drop held until clamd calls it clean (DROP_SCAN_MODE=hold)."""
    return falcon.HTTPError(
        falcon.HTTP_423,
        description=description,
        headers={"Retry-After": str(SCAN_RETRY_AFTER_SECONDS)},
    )


def found_malware(description: str = MALWARE) -> falcon.HTTPError:
    """451 for a drop clamd found malware in."""
    return falcon.HTTPUnavailableForLegalReasons(description=description)


def database_unavailable(req: falcon.Request, resp, error: Exception, params) -> None:
    """The database is down, restarting or out of connections: 503, never a 500.

    Nothing was acknowledged: an upload's blob is removed when its row cannot commit,
    and a download is only granted by a committed claim.
    """
    if is_disk_full(error):
        disk_full_error(req, resp, error, params)
    log.warning(
        "database unavailable for %s %s: %s",
        req.method,
        req.path,
        first_line(error),
    )
    raise falcon.HTTPServiceUnavailable(
        description="the database is unavailable; try again shortly",
        retry_after=DATABASE_RETRY_AFTER_SECONDS,
    )


def storage_unavailable(req: falcon.Request, resp, error: Exception, params) -> None:
    """The object store is down or refuses drop's requests: 503 with Retry-After, never 500.

    An upload that met it has nothing stored (its multipart upload is aborted, or left to
    the reconciliation when the store cannot even take that), and no row.
    """
    log.warning("blob store unavailable for %s %s: %s", req.method, req.path, error)
    raise falcon.HTTPServiceUnavailable(
        description="file storage is unavailable; try again shortly",
        retry_after=DATABASE_RETRY_AFTER_SECONDS,
    )


def client_too_slow(req: falcon.Request, resp, error: Exception, params) -> None:
    """An upload stalled or fell below the minimum rate (drop.runtime.serving): 408.

    The upload's temp file is already gone; the worker closes the connection after
    this answer instead of waiting for the rest of the body.
    """
    raise falcon.HTTPError(
        falcon.HTTP_408,
        description="the request body arrived too slowly; the upload was abandoned",
    )
