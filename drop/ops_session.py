"""The operator's session: an HMAC-signed cookie with an idle timeout and a CSRF token.

Nothing is stored server-side. The cookie carries when the operator was last active
and the CSRF token their forms must echo back; the signature makes both unforgeable
without the key. Failed logins are limited in drop/limits.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE_NAME = "drop_ops"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Session:
    last_seen: int  # epoch seconds of the operator's last request
    csrf: str


class SessionSigner:
    """Issues and checks session cookies; a cookie idle for longer than `idle_seconds` is void."""

    def __init__(self, key_material: str, idle_seconds: int):
        # A purpose-bound key: the admin token (or DROP_SECRET_KEY) is never used directly.
        self._key = hmac.new(key_material.encode(), b"drop-ops session v1", hashlib.sha256).digest()
        self.idle_seconds = idle_seconds

    def new_session(self, now: int) -> Session:
        return Session(now, secrets.token_hex(16))

    def dumps(self, session: Session) -> str:
        payload = json.dumps({"t": session.last_seen, "c": session.csrf}, separators=(",", ":"))
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def loads(self, cookie: str | None, now: int) -> Session | None:
        """The session in `cookie`, or None if it is missing, forged, malformed or idle too long."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(int(data["t"]), str(data["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        if not now - self.idle_seconds <= session.last_seen <= now + 60:
            return None
        return session

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison that also accepts a missing value (as a mismatch)."""
    return hmac.compare_digest((given or "").encode(), expected.encode())
