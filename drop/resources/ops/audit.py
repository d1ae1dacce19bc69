"""The dashboard's side of the audit trail: recording its actions, and the /ops/audit page."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import falcon

from drop.ops.listing import PageOutOfRange, page_number
from drop.ops.session import Session
from drop.protection import audit
from drop.protection.clients import client_address
from drop.web.pages import render
from drop.web.templates import Templates


class OpsAuditTrail:
    """Records a dashboard request's action: its session is the actor, its client the address."""

    def __init__(self, clock: Callable[[], datetime.datetime], trusted_proxies: tuple[str, ...]):
        self._clock = clock
        self._trusted_proxies = trusted_proxies

    def who(self, req: falcon.Request) -> tuple[str, str]:
        """The request's actor (its session) and client address, as the trail records them."""
        session = getattr(req.context, "ops_session", None)
        actor = audit.session_actor(session.session_id) if session else audit.ANONYMOUS
        return actor, client_address(req, self._trusted_proxies)

    def now(self) -> datetime.datetime:
        return self._clock()

    def record(
        self,
        req: falcon.Request,
        action: str,
        *,
        session: Session | None = None,
        target: str | None = None,
        detail: dict | None = None,
    ) -> None:
        """Record `action` by `session` (default: the request's own; none: anonymous)."""
        session = session or getattr(req.context, "ops_session", None)
        audit.record(
            action,
            actor=audit.session_actor(session.session_id) if session else audit.ANONYMOUS,
            at=self._clock(),
            address=client_address(req, self._trusted_proxies),
            target=target,
            detail=detail,
        )


class OpsAuditPage:
    """GET /ops/audit: the operators' actions, newest first, a page at a time.

    htmx's requests (the pager) get just the table.
    """

    ops_protected = True

    def __init__(self, templates: Templates, retention_seconds: int):
        self._templates = templates
        self._kept_for = kept_for(retention_seconds)

    def on_get(self, req, resp):
        try:
            number = page_number(req.get_param("page"))
        except PageOutOfRange as error:
            raise falcon.HTTPBadRequest(description=str(error)) from None
        render(
            self._templates,
            req,
            resp,
            "ops/audit.html",
            "ops/_audit.html",
            csrf=req.context.ops_session.csrf,
            trail=audit.list_events(number),
            kept_for=self._kept_for,
        )


def kept_for(seconds: int) -> str:
    """A retention as the page says it: in days, hours or seconds, whichever is exact."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
