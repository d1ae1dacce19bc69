"""The dashboard's door: logging in and out, and the guard in front of every /ops resource."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import falcon

from drop.clock import naive_utc_epoch
from drop.ops.session import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionSigner,
    tokens_match,
)
from drop.ops.session_store import SessionStore, SessionStoreUnavailable
from drop.protection import audit
from drop.protection.clients import client_address
from drop.protection.limits import GuessLimit, TooManyAttempts
from drop.resources.ops.audit import OpsAuditTrail
from drop.web.pages import set_page_headers
from drop.web.templates import Templates

LOGIN_PATH = "/ops/login"
SAFE_METHODS = ("GET", "HEAD")
# The dashboard's forms carry a token or two; the login form is open to anyone, so a
# body is never read into memory beyond this.
MAX_FORM_BYTES = 16 * 1024


def epoch(moment: datetime.datetime) -> int:
    """Seconds since the epoch for the app's naive-UTC clock."""
    return int(naive_utc_epoch(moment))


def set_session_cookie(req, resp, signer: SessionSigner, session: Session, now: int) -> None:
    resp.set_cookie(
        COOKIE_NAME,
        signer.dumps(session),
        path="/ops",
        max_age=signer.cookie_lifetime(session, now),
        # Behind https (gunicorn trusts X-Forwarded-Proto from DROP_TRUSTED_PROXIES only).
        secure=req.scheme == "https",
        http_only=True,
        same_site="Strict",
    )


def is_ops_path(path: str) -> bool:
    return path == "/ops" or path.startswith("/ops/")


class OpsSessions:
    """The dashboard's sessions: the signed cookie, checked against the live registry."""

    def __init__(self, signer: SessionSigner, store: SessionStore):
        self.signer = signer
        self._store = store

    def current(self, req: falcon.Request, now: int) -> Session | None:
        """The request's live session, or None (no cookie, junk, forged, timed out, ended)."""
        session = self.signer.loads(req.cookies.get(COOKIE_NAME), now)
        if session is None:
            return None
        if not self._call(self._store.is_live, session.session_id, now):
            return None
        return session

    def start(self, now: int) -> Session:
        session = self.signer.new_session(now)
        self._call(self._store.add, session.session_id, now, now + self.signer.max_seconds)
        return session

    def end(self, session: Session) -> None:
        self._call(self._store.end, session.session_id)

    @staticmethod
    def _call(method, *args):
        try:
            return method(*args)
        except SessionStoreUnavailable:
            raise falcon.HTTPServiceUnavailable(
                description="the dashboard's session store is unreachable; try again shortly"
            ) from None


def form_value(req: falcon.Request, name: str) -> str | None:
    """A field of a url-encoded form body (what browsers and htmx send)."""
    if not (req.content_type or "").startswith(falcon.MEDIA_URLENCODED):
        return None
    if (req.content_length or 0) > MAX_FORM_BYTES:
        raise falcon.HTTPContentTooLarge(description="the form is too large")
    value = req.get_media().get(name)
    return value if isinstance(value, str) else None


class OpsGuard:
    """Falcon middleware: resources with `ops_protected` need a valid session, writes a CSRF token.

    Every authenticated request that is the operator's own doing slides the idle
    timeout forward; resources with `refreshes_session = False` (the self-refreshing
    cards) do not, so an unattended dashboard still logs itself out. No activity
    extends a session past its absolute lifetime. Every answer under /ops, pages,
    fragments, redirects and errors alike, carries the public pages' security headers.
    """

    def __init__(self, sessions: OpsSessions, clock: Callable[[], datetime.datetime]):
        self._sessions = sessions
        self._signer = sessions.signer
        self._clock = clock

    def process_resource(self, req, resp, resource, params):
        if not getattr(resource, "ops_protected", False):
            return
        now = epoch(self._clock())
        session = self._sessions.current(req, now)
        if session is None:
            self._refuse(req, resp)
        if req.method not in SAFE_METHODS:
            given = req.get_header(CSRF_HEADER) or form_value(req, CSRF_FIELD)
            if not tokens_match(given, session.csrf):
                raise falcon.HTTPForbidden(description="the CSRF token is missing or wrong")
        req.context.ops_session = session
        if getattr(resource, "refreshes_session", True):
            set_session_cookie(req, resp, self._signer, session.seen_at(now), now)

    def process_response(self, req, resp, resource, req_succeeded):
        if is_ops_path(req.path):
            # A file the operator downloads keeps its own headers (CSP sandbox, attachment).
            if not getattr(req.context, "sends_file", False):
                set_page_headers(resp)
            resp.set_header("X-Frame-Options", "DENY")

    def _refuse(self, req, resp):
        if req.get_header("HX-Request"):
            # htmx follows HX-Redirect whatever the status: the whole page goes to the login.
            raise falcon.HTTPForbidden(
                description="log in first", headers={"HX-Redirect": LOGIN_PATH}
            )
        if req.method in SAFE_METHODS:
            raise falcon.HTTPSeeOther(LOGIN_PATH)
        raise falcon.HTTPForbidden(description="log in first")


class OpsLogin:
    """GET: the login form. POST: check the admin token, start a session, go to /ops."""

    def __init__(
        self,
        admin_token: str,
        sessions: OpsSessions,
        throttle: GuessLimit,
        templates: Templates,
        clock: Callable[[], datetime.datetime],
        audit_trail: OpsAuditTrail,
        trusted_proxies: tuple[str, ...] = (),
    ):
        self._admin_token = admin_token
        self._audit_trail = audit_trail
        self._trusted_proxies = trusted_proxies
        self._sessions = sessions
        self._throttle = throttle
        self._templates = templates
        self._clock = clock

    def on_get(self, req, resp):
        if self._sessions.current(req, epoch(self._clock())):
            raise falcon.HTTPSeeOther("/ops")
        self._templates.respond(resp, "ops/login.html", error=None)

    def on_post(self, req, resp):
        client = client_address(req, self._trusted_proxies)
        given = form_value(req, "token")
        try:
            # Counted before the comparison, atomically across every worker.
            right = self._throttle.check(
                [f"login:{client}"], lambda: tokens_match(given, self._admin_token)
            )
        except TooManyAttempts as refused:
            self._audit_trail.record(
                req, audit.LOGIN_REFUSED, detail={"retry_after": refused.retry_after}
            )
            resp.set_header("Retry-After", str(refused.retry_after))
            self._templates.respond(
                resp,
                "ops/login.html",
                status=falcon.HTTP_429,
                error="Too many failed attempts. Wait a few minutes and try again.",
            )
            return
        if not right:
            self._audit_trail.record(req, audit.LOGIN_FAILED)
            self._templates.respond(
                resp, "ops/login.html", status=falcon.HTTP_403, error="That token is not right."
            )
            return
        now = epoch(self._clock())
        session = self._sessions.start(now)
        self._audit_trail.record(req, audit.LOGIN, session=session)
        set_session_cookie(req, resp, self._sessions.signer, session, now)
        resp.status = falcon.HTTP_303
        resp.location = "/ops"


class OpsLogout:
    """POST: end the session, server-side: its cookie, or any copy of it, no longer works."""

    ops_protected = True
    refreshes_session = False

    def __init__(self, sessions: OpsSessions, audit_trail: OpsAuditTrail):
        self._sessions = sessions
        self._audit_trail = audit_trail

    def on_post(self, req, resp):
        self._sessions.end(req.context.ops_session)
        self._audit_trail.record(req, audit.LOGOUT)
        resp.unset_cookie(COOKIE_NAME, path="/ops", same_site="Strict")
        resp.status = falcon.HTTP_303
        resp.location = LOGIN_PATH
