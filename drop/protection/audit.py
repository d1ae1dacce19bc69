"""The audit trail: what operators did, when, as whom, from where, and to what.

Each event names its actor without a secret: a dashboard session by the first hex digits
of the sha256 its registry keys it by (drop/ops/session_store.py), drop-ops by `cli`, a
login that failed by `anonymous`. A drop is named by its id and the first characters
of its token, never the whole token (the download key). Events live in `audit_event`
(migration 0005) and are trimmed after DROP_AUDIT_RETENTION.

Recording never fails the action it records: the action has already happened (or been
refused) by then, and its answer must not change because one more row would not go in.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import ClassVar

import peewee

from drop.db.database import UNAVAILABLE_ERRORS
from drop.db.models import db
from drop.db.paging import Paging
from drop.runtime.logs import first_line

log = logging.getLogger(__name__)

LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGIN_REFUSED = "login_refused"  # too many failures from the address: not even compared
LOGOUT = "logout"
REVOKE = "revoke"
PURGE_STARTED = "purge_started"  # from the dashboard: queued for the worker
PURGE = "purge"  # drop-ops purge, done
EXPIRY_SET = "expiry_set"
LIMIT_SET = "limit_set"
DOWNLOAD_UNCOUNTED = "download_uncounted"  # the operator fetched a file, using no download
BLOCK = "block"  # an address, network or content blocked (drop/protection/blocks.py)
UNBLOCK = "unblock"
REPORT_DISMISSED = "report_dismissed"  # an abuse report closed with nothing done
REPORT_FILED = "report"  # a visitor reported a drop (anonymous; what the operator acts on)
TOKEN_CREATE = "token_create"  # an API token issued (never its secret)
TOKEN_REVOKE = "token_revoke"
SCAN = "scan"  # drop-ops scan: a rescan run, with its counts
MALWARE_FOUND = "malware_found"  # a scan's hit: the drop was made `infected`
ACTION_LABELS = {
    LOGIN: "logged in",
    LOGIN_FAILED: "failed login",
    LOGIN_REFUSED: "login refused (too many failures)",
    LOGOUT: "logged out",
    REVOKE: "revoked",
    PURGE_STARTED: "started a purge",
    PURGE: "purged",
    EXPIRY_SET: "changed the expiry",
    LIMIT_SET: "changed the download limit",
    DOWNLOAD_UNCOUNTED: "downloaded without counting",
    BLOCK: "blocked",
    UNBLOCK: "unblocked",
    REPORT_DISMISSED: "dismissed a report",
    REPORT_FILED: "abuse report received",
    TOKEN_CREATE: "created an API token",
    TOKEN_REVOKE: "revoked an API token",
    SCAN: "rescanned",
    MALWARE_FOUND: "malware found",
}

CLI_ACTOR = "cli"
SCANNER_ACTOR = "scanner"  # the worker's scan of a new upload
ANONYMOUS = "anonymous"
ACTOR_CHARS = 8
TOKEN_PREFIX_CHARS = 8  # as many as the dashboard's drops table shows
PER_PAGE = 50
TRIM_BATCH = 1000

# Whatever the database says to one more row, the action's answer stays the same.
RECORD_ERRORS = (peewee.DatabaseError, *UNAVAILABLE_ERRORS)


class AuditEvent(peewee.Model):
    """One operator action (migration 0005)."""

    id = peewee.BigAutoField()
    occurred_at = peewee.DateTimeField(index=True)  # naive UTC
    actor = peewee.CharField(max_length=32)
    address = peewee.CharField(max_length=64, null=True)  # None: drop-ops, on the server
    action = peewee.CharField(max_length=32)
    target = peewee.TextField(null=True)  # what was acted on, for people to read
    detail = peewee.TextField(null=True)  # a JSON object: options and counts

    class Meta:
        database = db
        table_name = "audit_event"

    @property
    def label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)

    @property
    def details(self) -> dict:
        return json.loads(self.detail) if self.detail else {}

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "occurred_at": self.occurred_at.isoformat() + "Z",
            "actor": self.actor,
            "address": self.address,
            "action": self.action,
            "target": self.target,
            "detail": self.details,
        }


def session_actor(session_id: str) -> str:
    """A dashboard session's name in the trail: short, stable, and no use for logging in."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:ACTOR_CHARS]


def token_prefix(token: str) -> str:
    return token[:TOKEN_PREFIX_CHARS]


def drop_target(drop) -> str:
    """A drop as the trail names it: its id and the first characters of its token."""
    return f"drop {drop.id} {token_prefix(drop.token)}"


def record(
    action: str,
    *,
    actor: str,
    at: datetime.datetime,
    address: str | None = None,
    target: str | None = None,
    detail: dict | None = None,
) -> bool:
    """Add one event; on a database error log one warning and return False."""
    try:
        with db.atomic():  # a savepoint inside a caller's transaction: only this row is lost
            AuditEvent.create(
                occurred_at=at,
                actor=actor,
                address=address,
                action=action,
                target=target,
                detail=json.dumps(detail, sort_keys=True) if detail else None,
            )
    except RECORD_ERRORS as error:
        log.warning("audit trail: could not record %s: %s", action, first_line(error))
        return False
    return True


@dataclass(frozen=True)
class AuditPage(Paging):
    per_page: ClassVar[int] = PER_PAGE
    events: list[AuditEvent]
    page: int
    total: int

    @property
    def current_page(self) -> int:
        return self.page


def _newest_first():
    return AuditEvent.select().order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())


def list_events(page: int = 1) -> AuditPage:
    """One page of events, newest first."""
    total = AuditEvent.select().count()
    return AuditPage(list(_newest_first().paginate(page, PER_PAGE)), page, total)


def newest(limit: int) -> list[AuditEvent]:
    """The `limit` newest events, newest first."""
    return list(_newest_first().limit(limit))


def trim(
    now: datetime.datetime,
    retention: datetime.timedelta,
    *,
    batch_size: int = TRIM_BATCH,
    max_batches: int | None = None,
) -> int:
    """Delete events older than `retention`, `batch_size` rows per transaction; return how many.

    Stops after `max_batches` batches when given (the worker's periodic run), so no run
    holds a lock or the worker for long; the next run carries on.
    """
    cutoff = now - retention
    removed = batches = 0
    while max_batches is None or batches < max_batches:
        oldest = (
            AuditEvent.select(AuditEvent.id)
            .where(AuditEvent.occurred_at < cutoff)
            .order_by(AuditEvent.occurred_at)
            .limit(batch_size)
        )
        with db.atomic():
            deleted = AuditEvent.delete().where(AuditEvent.id.in_(oldest)).execute()
        removed += deleted
        batches += 1
        if deleted < batch_size:
            break
    return removed
