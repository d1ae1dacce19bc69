"""A drop's panel on the dashboard: its details, its expiry and download limit, and a
download that uses none of its downloads."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import falcon

from drop.config import Config
from drop.db.models import Drop
from drop.drops.downloads import download_headers
from drop.ops import edits
from drop.ops.edits import EditRefused
from drop.ops.listing import drop_or_404
from drop.protection import audit
from drop.resources.ops.audit import OpsAuditTrail
from drop.resources.ops.auth import form_value
from drop.storage import BlobStorage
from drop.web.errors import refusal_status
from drop.web.templates import Templates
from drop.wording import duration

# The expiry choices the panel offers, up to DROP_MAX_EXPIRES_IN.
EXPIRY_CHOICES = (3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)


def expiry_choices(max_expires_in: int) -> list[tuple[int, str]]:
    seconds = [choice for choice in EXPIRY_CHOICES if choice < max_expires_in]
    return [(choice, duration(choice)) for choice in [*seconds, max_expires_in]]


class DropPanel:
    """Renders the panel (templates/ops/_manage.html) for one drop."""

    def __init__(self, templates: Templates, storage: BlobStorage, config: Config):
        self._templates = templates
        self._storage = storage
        self._config = config

    def respond(
        self,
        req,
        resp,
        drop: Drop,
        *,
        status=falcon.HTTP_200,
        message: str = "",
        error: str = "",
        row_changed: bool = False,
    ) -> None:
        self._templates.respond(
            resp,
            "ops/_manage.html",
            status=status,
            drop=drop,
            csrf=req.context.ops_session.csrf,
            blob_present=self._storage.exists(drop.token),
            expiry_choices=expiry_choices(self._config.max_expires_in),
            most_downloads=self._config.max_downloads,
            message=message,
            error=error,
            row_changed=row_changed,
        )

    def refuse(self, req, resp, drop_id: int, refused: EditRefused) -> None:
        """The panel again, saying why the edit was refused."""
        self.respond(
            req, resp, drop_or_404(drop_id), status=refusal_status(refused), error=refused.message
        )


class OpsDropDetail:
    """GET /ops/drops/{drop_id}: the drop's panel."""

    ops_protected = True

    def __init__(self, panel: DropPanel):
        self._panel = panel

    def on_get(self, req, resp, drop_id: int):
        self._panel.respond(req, resp, drop_or_404(drop_id))


class OpsSetExpiry:
    """POST /ops/drops/{drop_id}/expiry: `expires_in` seconds from now, within the maximum."""

    ops_protected = True

    def __init__(
        self,
        panel: DropPanel,
        config: Config,
        clock: Callable[[], datetime.datetime],
        audit_trail: OpsAuditTrail,
    ):
        self._panel = panel
        self._max_expires_in = config.max_expires_in
        self._clock = clock
        self._audit_trail = audit_trail

    def on_post(self, req, resp, drop_id: int):
        try:
            edit = edits.set_expiry(
                drop_id, form_value(req, "expires_in"), self._clock(), self._max_expires_in
            )
        except EditRefused as refused:
            self._panel.refuse(req, resp, drop_id, refused)
            return
        self._audit_trail.record(
            req,
            audit.EXPIRY_SET,
            target=audit.drop_target(edit.drop),
            detail={
                "drop_id": edit.drop.id,
                "expires_at_before": f"{edit.before:%Y-%m-%d %H:%M:%S}Z",
                "expires_at_after": f"{edit.after:%Y-%m-%d %H:%M:%S}Z",
            },
        )
        self._panel.respond(
            req,
            resp,
            edit.drop,
            message=f"It now expires at {edit.after:%Y-%m-%d %H:%M} UTC.",
            row_changed=True,
        )


class OpsSetDownloadLimit:
    """POST /ops/drops/{drop_id}/limit: `max_downloads`, more than the downloads used."""

    ops_protected = True

    def __init__(self, panel: DropPanel, config: Config, audit_trail: OpsAuditTrail):
        self._panel = panel
        self._most_allowed = config.max_downloads
        self._audit_trail = audit_trail

    def on_post(self, req, resp, drop_id: int):
        try:
            edit = edits.set_download_limit(
                drop_id, form_value(req, "max_downloads"), self._most_allowed
            )
        except EditRefused as refused:
            self._panel.refuse(req, resp, drop_id, refused)
            return
        self._audit_trail.record(
            req,
            audit.LIMIT_SET,
            target=audit.drop_target(edit.drop),
            detail={
                "drop_id": edit.drop.id,
                "max_downloads_before": edit.before,
                "max_downloads_after": edit.after,
                "downloads_used": edit.drop.downloads,
            },
        )
        self._panel.respond(
            req,
            resp,
            edit.drop,
            message=f"It now allows {edit.after} downloads in all.",
            row_changed=True,
        )


class OpsUncountedDownload:
    """POST /ops/drops/{drop_id}/download: the stored bytes, as an attachment, uncounted.

    For looking at a reported file: no download is used, no download event or metric is
    counted, and a password does not apply. The answer carries the API's download
    headers (attachment, nosniff, `Content-Security-Policy: sandbox`), so a browser saves
    the file and never renders it as one of drop's pages. Recorded in the audit trail.
    """

    ops_protected = True

    def __init__(self, storage: BlobStorage, audit_trail: OpsAuditTrail):
        self._storage = storage
        self._audit_trail = audit_trail

    def on_post(self, req, resp, drop_id: int):
        drop = drop_or_404(drop_id)
        try:
            blob = self._storage.open(drop.token)
        except FileNotFoundError:
            raise falcon.HTTPNotFound(description="this drop's file is no longer stored") from None
        self._audit_trail.record(
            req,
            audit.DOWNLOAD_UNCOUNTED,
            target=audit.drop_target(drop),
            detail={"drop_id": drop.id, "size": drop.size, "status": drop.status},
        )
        resp.set_stream(blob, drop.size)
        resp.set_headers(download_headers(drop))
        req.context.sends_file = True  # OpsGuard keeps the download's own headers
