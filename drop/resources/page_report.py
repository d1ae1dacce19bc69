"""The "Report this file" form a share page links to, and /.well-known/security.txt."""

from __future__ import annotations

import datetime
import hmac
import secrets
from collections.abc import Callable

import falcon

from drop.clock import utcnow
from drop.config import Config
from drop.db.models import Drop
from drop.protection import audit, reports
from drop.protection.clients import client_address
from drop.protection.limits import HourlyLimit, TooManyAttempts
from drop.resources.page_share import FORM, GONE, find_drop
from drop.web import pages
from drop.web.templates import Templates
from drop.wording import plural

# The form's own token, echoed by a cookie only same-site requests carry (SameSite=Strict):
# another site cannot make a visitor's browser file a report, and no account is needed.
FORM_COOKIE = "drop_report"
FORM_COOKIE_SECONDS = 60 * 60
# Reason, a description of up to 2,000 characters (percent-encoded: up to 12 bytes each)
# and a contact: no real form comes near this.
MAX_REPORT_FORM_BYTES = 32 * 1024
REPORTS_PER_HOUR = 5
# RFC 9116 wants Expires no more than a year ahead; re-computed on every request.
SECURITY_TXT_VALID_DAYS = 180


def report_path(token: str) -> str:
    return f"/d/{token}/report"


class ReportPage:
    """GET /d/<token>/report: the form. POST: file the report (rate-limited per address)."""

    def __init__(
        self,
        config: Config,
        templates: Templates,
        limit: HourlyLimit,
        clock: Callable = utcnow,
    ):
        self._templates = templates
        self._limit = limit
        self._clock = clock
        self._trusted_proxies = config.trusted_proxies

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str):
        drop = self._reportable(token)
        form_token = secrets.token_hex(16)
        resp.set_cookie(
            FORM_COOKIE,
            form_token,
            path=report_path(drop.token),
            max_age=FORM_COOKIE_SECONDS,
            secure=req.scheme == "https",
            http_only=True,
            same_site="Strict",
        )
        self._show(resp, drop, form_token)

    def on_post(self, req: falcon.Request, resp: falcon.Response, token: str):
        drop = self._reportable(token)
        fields = report_fields(req)
        form_token = req.cookies.get(FORM_COOKIE)
        given = fields.get("form_token", "").encode()
        if not form_token or not hmac.compare_digest(given, form_token.encode()):
            raise falcon.HTTPForbidden(
                description="This form has expired or came from another site. "
                "Open the report form again and send it from there."
            )
        try:
            form = reports.ReportForm.from_fields(
                fields.get("reason", ""), fields.get("details", ""), fields.get("contact", "")
            )
        except reports.BadReport as error:
            self._show(resp, drop, form_token, falcon.HTTP_400, error=str(error), fields=fields)
            return
        try:
            self._limit.admit(client_address(req, self._trusted_proxies))
        except TooManyAttempts as refused:
            raise falcon.HTTPTooManyRequests(
                description="Too many reports from this address; try again in "
                f"{plural(refused.retry_after, 'second')}.",
                retry_after=refused.retry_after,
            ) from None
        report = reports.file_report(drop, form, self._clock())
        # In the trail beside what the operator does about it; without the reporter's
        # address, which drop keeps nowhere.
        audit.record(
            audit.REPORT_FILED,
            actor=audit.ANONYMOUS,
            at=report.created_at,
            target=audit.drop_target(drop),
            detail={"report_id": report.id, "reason": report.reason},
        )
        pages.set_page_headers(resp)
        self._templates.respond(resp, "report_sent.html", status=falcon.HTTP_201)

    def _reportable(self, token: str) -> Drop:
        drop = find_drop(token)
        if not drop.is_available(self._clock()):
            raise falcon.HTTPGone(description=GONE)
        return drop

    def _show(self, resp, drop: Drop, form_token: str, status=falcon.HTTP_200, **context):
        pages.set_page_headers(resp)
        context.setdefault("error", "")
        context.setdefault("fields", {})
        self._templates.respond(
            resp,
            "report.html",
            status=status,
            drop=drop,
            report_path=report_path(drop.token),
            form_token=form_token,
            reasons=reports.REASONS,
            max_details=reports.MAX_DETAILS_CHARS,
            **context,
        )


def report_fields(req: falcon.Request) -> dict[str, str]:
    """The report form's fields; 413, 415 or 400 for a body no browser form makes."""
    if (req.content_length or 0) > MAX_REPORT_FORM_BYTES:
        raise falcon.HTTPContentTooLarge(description="this form is far larger than it can be")
    if not (req.content_type or "").lower().startswith(FORM):
        raise falcon.HTTPUnsupportedMediaType(description=f"send the form as {FORM}")
    media = req.get_media(default_when_empty={})
    fields = {}
    for name in ("form_token", "reason", "details", "contact"):
        value = media.get(name, "")
        if not isinstance(value, str):
            raise falcon.HTTPBadRequest(description=f"send {name} once")
        fields[name] = value
    return fields


class SecurityTxt:
    """GET /.well-known/security.txt (RFC 9116): DROP_ABUSE_CONTACT; 404 when there is none."""

    def __init__(self, config: Config, clock: Callable = utcnow):
        self._contact = config.abuse_contact
        self._clock = clock

    def on_get(self, req: falcon.Request, resp: falcon.Response):
        if not self._contact:
            raise falcon.HTTPNotFound()
        expires = self._clock() + datetime.timedelta(days=SECURITY_TXT_VALID_DAYS)
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = (
            f"Contact: {self._contact}\n"
            f"Expires: {expires:%Y-%m-%dT%H:%M:%S}Z\n"
            "Preferred-Languages: en\n"
        )

    on_head = on_get
