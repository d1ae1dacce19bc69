"""The operator's session: an HMAC-signed cookie with idle and absolute timeouts, a CSRF token.

The cookie carries the session's id, when it started, when the operator was last active
and the CSRF token their forms must echo back; the signature makes them unforgeable
without the key. The id must also be live in the server-side registry
(drop/ops/session_store.py), so logging out ends a session even for a copy of its cookie.
Failed logins are limited in drop/protection/limits.py.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE_NAME = "drop_ops"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
# A real cookie is about 200 characters; anything far longer is not ours.
MAX_COOKIE_CHARS = 1024


@dataclass(frozen=True)
class Session:
    session_id: str  # the server-side registry's key; logging out removes it
    started: int  # epoch seconds of the login: the absolute lifetime counts from here
    last_seen: int  # epoch seconds of the operator's last request
    csrf: str

    def seen_at(self, now: int) -> Session:
        return dataclasses.replace(self, last_seen=now)


class SessionSigner:
    """Issues and checks session cookies.

    A cookie idle for longer than `idle_seconds`, or older than `max_seconds` since the
    login whatever the activity, is void.
    """

    def __init__(self, key_material: str, idle_seconds: int, max_seconds: int = 12 * 60 * 60):
        # A purpose-bound key: the admin token (or DROP_SECRET_KEY) is never used directly.
        self._key = hmac.new(key_material.encode(), b"drop-ops session v2", hashlib.sha256).digest()
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds

    def new_session(self, now: int) -> Session:
        return Session(secrets.token_hex(16), now, now, secrets.token_hex(16))

    def dumps(self, session: Session) -> str:
        payload = json.dumps(
            {
                "s": session.session_id,
                "a": session.started,
                "t": session.last_seen,
                "c": session.csrf,
            },
            separators=(",", ":"),
        )
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def loads(self, cookie: str | None, now: int) -> Session | None:
        """The session in `cookie`, or None if it is missing, forged, malformed or too old.

        The cookie is the client's text: any byte may be in it (a non-ASCII one too),
        and none of them may be more than "not logged in".
        """
        if not cookie or len(cookie) > MAX_COOKIE_CHARS or not cookie.isascii():
            return None
        if cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(str(data["s"]), int(data["a"]), int(data["t"]), str(data["c"]))
        except (ValueError, KeyError, TypeError, OverflowError, binascii.Error):
            return None
        if not now - self.idle_seconds <= session.last_seen <= now + 60:
            return None
        if not now - self.max_seconds < session.started <= session.last_seen:
            return None
        return session

    def cookie_lifetime(self, session: Session, now: int) -> int:
        """Seconds the browser should keep the cookie: the idle time, cut by the absolute end."""
        return max(0, min(self.idle_seconds, session.started + self.max_seconds - now))

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison that also accepts a missing value (as a mismatch)."""
    return hmac.compare_digest((given or "").encode(), expected.encode())
