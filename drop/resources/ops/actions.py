"""What the operator can do from the dashboard: revoke a drop, purge expired drops now."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import falcon

from drop.db.models import Drop
from drop.ops.listing import drop_or_404
from drop.ops.revoking import revoke
from drop.protection import audit
from drop.resources.ops.audit import OpsAuditTrail
from drop.storage import BlobStorage
from drop.web.templates import Templates

TASK_ID = re.compile(r"[0-9a-f-]{1,64}")


class OpsRevoke:
    """POST /ops/drops/{drop_id}/revoke: the drop is gone now (410) and its blob deleted."""

    ops_protected = True

    def __init__(
        self,
        templates: Templates,
        storage: BlobStorage,
        clock: Callable[[], datetime.datetime],
        audit_trail: OpsAuditTrail,
    ):
        self._templates = templates
        self._storage = storage
        self._clock = clock
        self._audit_trail = audit_trail

    def on_post(self, req, resp, drop_id: int):
        drop = drop_or_404(drop_id)
        actor, address = self._audit_trail.who(req)
        revoke(self._storage, drop, actor=actor, address=address, now=self._clock())
        self._templates.respond(resp, "ops/_drop_row.html", drop=Drop.get_by_id(drop.id))


class OpsPurge:
    """POST /ops/purge: queue a purge of expired drops; answer with a fragment that polls it."""

    ops_protected = True

    def __init__(
        self,
        templates: Templates,
        enqueue_purge: Callable[[], str],
        audit_trail: OpsAuditTrail,
        retention_seconds: int,
    ):
        self._templates = templates
        self._enqueue_purge = enqueue_purge
        self._audit_trail = audit_trail
        self._retention_seconds = retention_seconds

    def on_post(self, req, resp):
        task_id = self._enqueue_purge()
        self._audit_trail.record(
            req,
            audit.PURGE_STARTED,
            target="expired drops",
            detail={"task": task_id, "older_than_seconds": self._retention_seconds},
        )
        self._templates.respond(
            resp, "ops/_purge.html", status=falcon.HTTP_202, task_id=task_id, progress=None
        )


class OpsPurgeProgress:
    """GET /ops/purge/{task_id}: how far the queued purge has got, and its result."""

    ops_protected = True
    refreshes_session = False

    def __init__(self, templates: Templates, purge_progress: Callable[[str], dict | None]):
        self._templates = templates
        self._purge_progress = purge_progress

    def on_get(self, req, resp, task_id: str):
        if not TASK_ID.fullmatch(task_id):
            raise falcon.HTTPNotFound()
        self._templates.respond(
            resp, "ops/_purge.html", task_id=task_id, progress=self._purge_progress(task_id)
        )
