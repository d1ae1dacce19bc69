"""The server-side registry of live dashboard sessions: logging out removes a session's id.

A signed cookie alone cannot be taken back: whoever copied it could use it until it
timed out. So each request's session id must also be in this registry, which logging
out clears. The database holds it (table `ops_session`, migration 0004), shared by every
worker: the dashboard shows nothing without the database anyway, and so it keeps working
while Redis is down. Only a hash of each id is stored: a read of the registry yields
nothing that logs in.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import peewee

from drop.db.models import db


class SessionStoreUnavailable(Exception):
    """The registry cannot be reached; the dashboard answers 503 until it can."""


class SessionStore(Protocol):
    def add(self, session_id: str, now: int, expires_at: int) -> None:
        """Register a new session, live until `expires_at` (epoch seconds) at the latest."""

    def is_live(self, session_id: str, now: int) -> bool:
        """True while the session is registered and not past its end."""

    def end(self, session_id: str) -> None:
        """Forget the session: its cookie no longer works, wherever it was copied."""


_UNREACHABLE = (peewee.OperationalError, peewee.InterfaceError)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class OpsSession(peewee.Model):
    """One live dashboard session (migration 0004)."""

    id_hash = peewee.FixedCharField(max_length=64, primary_key=True)
    expires_at = peewee.BigIntegerField(index=True)  # epoch seconds

    class Meta:
        database = db
        table_name = "ops_session"


class DatabaseSessionStore:
    """Sessions as rows of `ops_session`; each login also removes the rows past their end."""

    def add(self, session_id: str, now: int, expires_at: int) -> None:
        try:
            with db.atomic():
                OpsSession.delete().where(OpsSession.expires_at <= now).execute()
                OpsSession.create(id_hash=_digest(session_id), expires_at=expires_at)
        except _UNREACHABLE as error:
            raise SessionStoreUnavailable(str(error)) from error

    def is_live(self, session_id: str, now: int) -> bool:
        try:
            return (
                OpsSession.select()
                .where(OpsSession.id_hash == _digest(session_id), OpsSession.expires_at > now)
                .exists()
            )
        except _UNREACHABLE as error:
            raise SessionStoreUnavailable(str(error)) from error

    def end(self, session_id: str) -> None:
        try:
            OpsSession.delete().where(OpsSession.id_hash == _digest(session_id)).execute()
        except _UNREACHABLE as error:
            raise SessionStoreUnavailable(str(error)) from error
