"""Abuse reports on the dashboard: the list, and revoking or dismissing from a report.

Blocking from a report goes through the blocks' own confirmation step
(drop/resources/ops/blocks.py), which closes the report once the block is added.
"""

from __future__ import annotations

import falcon

from drop.db.models import Drop
from drop.ops.listing import PageOutOfRange, page_number
from drop.ops.revoking import revoke
from drop.protection import audit, blocks, reports
from drop.resources.ops.audit import OpsAuditTrail
from drop.storage import BlobStorage
from drop.web.pages import render
from drop.web.templates import Templates

SHOWN = {"open": reports.OPEN, "resolved": reports.RESOLVED, "dismissed": reports.DISMISSED}
ACTIONS = ("revoke", "dismiss")


class OpsReports:
    """GET /ops/reports[?status=open|resolved|dismissed|all][&page=N]: newest first, a page
    at a time (htmx: the list)."""

    ops_protected = True

    def __init__(self, templates: Templates):
        self._templates = templates

    def on_get(self, req, resp):
        wanted = req.get_param("status") or "open"
        status = SHOWN.get(wanted, "")
        try:
            number = page_number(req.get_param("page"))
        except PageOutOfRange as error:
            raise falcon.HTTPBadRequest(description=str(error)) from None
        listed = reports.list_reports(status, number)
        render(
            self._templates,
            req,
            resp,
            "ops/reports.html",
            "ops/_reports.html",
            csrf=req.context.ops_session.csrf,
            rows=listed.rows,
            listed=listed,
            withheld=blocks.blocked_contents({row.drop.sha256 for row in listed.rows if row.drop}),
            shown=wanted if wanted in SHOWN else "all",
        )


class OpsReportAction:
    """POST /ops/reports/{report_id}/revoke or …/dismiss: act, close the report, record it."""

    ops_protected = True

    def __init__(self, templates: Templates, storage: BlobStorage, audit_trail: OpsAuditTrail):
        self._templates = templates
        self._storage = storage
        self._audit_trail = audit_trail

    def on_post(self, req, resp, report_id: int, action: str):
        if action not in ACTIONS:
            raise falcon.HTTPNotFound()
        report = reports.AbuseReport.get_or_none(reports.AbuseReport.id == report_id)
        if report is None:
            raise falcon.HTTPNotFound(description="no such report")
        drop = Drop.get_or_none(Drop.id == report.drop_id)
        actor, address = self._audit_trail.who(req)
        now = self._audit_trail.now()
        if action == "revoke":
            if drop is None:
                raise falcon.HTTPGone(description="the drop has been purged")
            revoke(
                self._storage,
                drop,
                actor=actor,
                address=address,
                now=now,
                detail={"report_id": report.id},
            )
            reports.resolve(report, "revoked", actor=actor, now=now)
            drop = Drop.get_by_id(drop.id)
        else:
            audit.record(
                audit.REPORT_DISMISSED,
                actor=actor,
                at=now,
                address=address,
                target=f"report {report.id}",
                detail={"report_id": report.id, "drop_id": report.drop_id},
            )
            reports.resolve(report, reports.DISMISSED, actor=actor, now=now)
        self._templates.respond(
            resp,
            "ops/_report.html",
            row=reports.ReportRow(report, drop),
            withheld=blocks.blocked_contents({drop.sha256} if drop else set()),
        )
