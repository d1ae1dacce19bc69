"""The dashboard's rescan: one drop sent to clamd now, the verdict shown in its row."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import falcon

from drop.config import Config
from drop.db.models import Drop
from drop.ops.listing import drop_or_404
from drop.protection import audit
from drop.protection.scanning import Clamd, ScannerUnavailable
from drop.protection.scans import Scanner
from drop.resources.ops.audit import OpsAuditTrail
from drop.storage import BlobStorage
from drop.web.templates import Templates


class OpsRescan:
    """POST /ops/drops/{drop_id}/scan: scan the drop with clamd now, as `drop-ops scan` does.

    Synchronous: one file takes clamd well under a second at DROP_SCAN_MAX_BYTES, and
    the operator sees the verdict at once. A hit is handled as the worker's scan
    handles it, with this session as the actor.
    """

    ops_protected = True

    def __init__(
        self,
        templates: Templates,
        config: Config,
        storage: BlobStorage,
        clock: Callable[[], datetime.datetime],
        audit_trail: OpsAuditTrail,
    ):
        self._templates = templates
        self._config = config
        self._storage = storage
        self._clock = clock
        self._audit_trail = audit_trail

    def on_post(self, req, resp, drop_id: int):
        drop = drop_or_404(drop_id)
        scanner = Scanner(
            self._storage,
            Clamd.from_config(self._config),
            max_bytes=self._config.scan_max_bytes,
            quarantine=self._config.scan_quarantine,
            actor=audit.session_actor(req.context.ops_session.session_id),
        )
        try:
            outcome = scanner.scan(drop.token, self._clock())
        except ScannerUnavailable as error:
            raise falcon.HTTPServiceUnavailable(
                description=f"the scan could not run: {error}", retry_after=10
            ) from None
        prefix = audit.token_prefix(drop.token)
        self._audit_trail.record(
            req,
            audit.SCAN,
            target=audit.drop_target(drop),
            detail={"drop_id": drop.id, "token_prefix": prefix, "result": outcome.result},
        )
        self._templates.respond(resp, "ops/_drop_row.html", drop=Drop.get_by_id(drop.id))
