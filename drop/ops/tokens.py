"""The operator's side of API tokens: issuing and revoking them, each in the audit trail.

`drop-ops token` and the dashboard both come through here, so an event reads the same
whichever did it. An event names a token by its id, name and shown prefix, and its
limits; never by its secret, which exists only in the answer to `create`.
"""

from __future__ import annotations

import datetime

from drop.protection import api_tokens, audit
from drop.protection.api_tokens import ApiToken, IssuedToken

# Bounds on what a token may allow: far above any sensible use, and within what a
# drop's expiry (a datetime) and sizes (64-bit columns) can hold.
MAX_TOKEN_UPLOAD_BYTES = 2**40  # 1 TiB
MAX_TOKEN_EXPIRES_IN = 366 * 24 * 60 * 60
MAX_TOKEN_UPLOADS_PER_HOUR = 1_000_000


def issue_token(
    name: str,
    *,
    now: datetime.datetime,
    actor: str,
    address: str | None = None,
    max_upload_bytes: int | None = None,
    max_expires_in: int | None = None,
    uploads_per_hour: int | None = None,
) -> IssuedToken:
    """Issue a token and record who did; raises api_tokens.NameTaken."""
    issued = api_tokens.issue(
        name,
        now=now,
        max_upload_bytes=max_upload_bytes,
        max_expires_in=max_expires_in,
        uploads_per_hour=uploads_per_hour,
    )
    _record(audit.TOKEN_CREATE, issued.token, now=now, actor=actor, address=address)
    return issued


def revoke_token(
    token: ApiToken, *, now: datetime.datetime, actor: str, address: str | None = None
) -> bool:
    """Revoke `token` and record who did; False (and no event) if it already was."""
    if not api_tokens.revoke(token, now):
        return False
    _record(audit.TOKEN_REVOKE, token, now=now, actor=actor, address=address)
    return True


def _record(action: str, token: ApiToken, *, now, actor: str, address: str | None) -> None:
    audit.record(
        action,
        actor=actor,
        at=now,
        address=address,
        target=f"token {token.id} {token.name}",
        # Limits left at the instance's own are left out.
        detail={
            key: value
            for key, value in {
                "token_id": token.id,
                "name": token.name,
                "prefix": token.prefix,
                "max_upload_bytes": token.max_upload_bytes,
                "max_expires_in": token.max_expires_in,
                "uploads_per_hour": token.uploads_per_hour,
            }.items()
            if value is not None
        },
    )
