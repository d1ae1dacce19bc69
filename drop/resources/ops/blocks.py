"""Blocks on the dashboard: the confirmation step, adding one, the blocks page, removing one."""

from __future__ import annotations

import falcon

from drop.db.models import Drop
from drop.ops import blocking
from drop.ops.listing import drop_or_404
from drop.protection import blocks, reports
from drop.resources.ops.audit import OpsAuditTrail
from drop.resources.ops.auth import form_value
from drop.storage import BlobStorage
from drop.web.pages import render
from drop.web.templates import Templates

# What the dashboard's confirmation form says each block does.
CONSEQUENCES = {
    blocks.ADDRESS: "Uploads from it are refused with 403 at once, on every server.",
    blocks.CONTENT: "Uploads of these bytes are refused with 403, and every drop of them "
    "answers 451 Unavailable For Legal Reasons instead of its file.",
}
# A change to the blocks: the blocks list and the reports list re-fetch themselves.
CHANGED_EVENT = "blocks-changed"


def _int_param(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise falcon.HTTPBadRequest(description="an id is a whole number")
    return int(value)


def _kind(value: str | None) -> str:
    if value not in blocks.KINDS:
        raise falcon.HTTPBadRequest(description=f"kind must be {' or '.join(blocks.KINDS)}")
    return value


def _drop(drop_id: int | None) -> Drop:
    if not drop_id:
        raise falcon.HTTPNotFound(description="no such drop")
    return drop_or_404(drop_id)


class OpsBlockConfirm:
    """GET /ops/blocks/new?kind=…&drop_id=…[&report_id=…]: the confirmation step.

    Shows what would be blocked and what that does, with a reason to give; nothing is
    blocked until the operator confirms (POST /ops/blocks).
    """

    ops_protected = True

    def __init__(self, templates: Templates):
        self._templates = templates

    def on_get(self, req, resp):
        kind = _kind(req.get_param("kind"))
        drop = _drop(_int_param(req.get_param("drop_id")))
        report_id = _int_param(req.get_param("report_id"))
        value = drop.uploader_address if kind == blocks.ADDRESS else drop.sha256
        live_from_address = None
        if kind == blocks.ADDRESS and value:
            target = blocks.address_target(value)
            probe = blocks.Block(range_start=target.range_start, range_end=target.range_end)
            live_from_address = sum(1 for _ in blocks.live_drops_from(probe))
        self._templates.respond(
            resp,
            "ops/_block_confirm.html",
            kind=kind,
            value=value,
            drop=drop,
            report_id=report_id,
            consequence=CONSEQUENCES[kind],
            live_from_address=live_from_address,
            live_with_content=blocks.live_drops_with(drop.sha256),
            default_reason=_default_reason(report_id),
        )


def _default_reason(report_id: int | None) -> str:
    report = reports.AbuseReport.get_or_none(reports.AbuseReport.id == report_id)
    return f"abuse report {report.id}: {report.reason_label}" if report else ""


class OpsBlocks:
    """GET /ops/blocks: the blocks page (htmx: its list). POST: add a block (confirmed)."""

    ops_protected = True

    def __init__(self, templates: Templates, storage: BlobStorage, audit_trail: OpsAuditTrail):
        self._templates = templates
        self._storage = storage
        self._audit_trail = audit_trail

    def on_get(self, req, resp):
        render(
            self._templates,
            req,
            resp,
            "ops/blocks.html",
            "ops/_blocks.html",
            csrf=req.context.ops_session.csrf,
            blocks=blocks.list_blocks(),
        )

    def on_post(self, req, resp):
        kind = _kind(form_value(req, "kind"))
        drop_id = _int_param(form_value(req, "drop_id"))
        report_id = _int_param(form_value(req, "report_id"))
        report = None
        if report_id is not None:
            report = reports.AbuseReport.get_or_none(reports.AbuseReport.id == report_id)
            if report is None:
                raise falcon.HTTPNotFound(description="no such report")
        context = {
            key: value
            for key, value in (("drop_id", drop_id), ("report_id", report_id))
            if value is not None
        }
        actor, address = self._audit_trail.who(req)
        now = self._audit_trail.now()
        try:
            wanted = blocks.target(kind, form_value(req, "value") or "")
            outcome = blocking.block(
                wanted,
                form_value(req, "reason") or "",
                actor=actor,
                address=address,
                now=now,
                storage=self._storage,
                revoke_drops=form_value(req, "revoke_drops") == "on",
                context=context,
            )
        except blocks.BadBlock as error:
            self._templates.respond(
                resp, "ops/_block_done.html", status=falcon.HTTP_400, error=str(error)
            )
            return
        if report is not None:
            reports.resolve(report, f"blocked_{kind}", actor=actor, now=now)
        resp.set_header("HX-Trigger", CHANGED_EVENT)
        self._templates.respond(
            resp,
            "ops/_block_done.html",
            status=falcon.HTTP_201 if outcome.created else falcon.HTTP_200,
            error="",
            outcome=outcome,
            described=blocking.describe(outcome.block),
        )


class OpsBlockRemove:
    """POST /ops/blocks/{block_id}/remove: lift a block; answers with the updated list."""

    ops_protected = True

    def __init__(self, templates: Templates, audit_trail: OpsAuditTrail):
        self._templates = templates
        self._audit_trail = audit_trail

    def on_post(self, req, resp, block_id: int):
        actor, address = self._audit_trail.who(req)
        removed = blocking.unblock(
            block_id, actor=actor, address=address, now=self._audit_trail.now()
        )
        if removed is None:
            raise falcon.HTTPNotFound(description="no such block")
        resp.set_header("HX-Trigger", CHANGED_EVENT)
        self._templates.respond(resp, "ops/_blocks.html", blocks=blocks.list_blocks())


class OpsBlockCancel:
    """GET /ops/blocks/cancel: the confirmation step's Cancel, an empty fragment."""

    ops_protected = True

    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_HTML
        resp.text = ""
