"""Abuse reports: a visitor says a drop is malware, phishing, infringing…; the operator decides.

A report names its drop by id and keeps the reason, the reporter's words and the contact
they chose to give, nothing else about them. It stays `open` until the operator revokes
the drop, blocks its uploader or content, or dismisses it (migration 0012).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import ClassVar

import peewee

from drop.db.models import Drop, db
from drop.db.paging import Paging

OPEN = "open"
RESOLVED = "resolved"
DISMISSED = "dismissed"
# The reasons a reporter picks from, in the order the form lists them.
REASONS = {
    "malware": "Malware or a virus",
    "phishing": "Phishing or fraud",
    "copyright": "Infringes copyright",
    "illegal": "Illegal content",
    "personal": "Someone's private information",
    "other": "Something else",
}
MAX_DETAILS_CHARS = 2000
MAX_CONTACT_CHARS = 254
# Enough to catch a typo, not a validation of e-mail's whole grammar.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PER_PAGE = 50


class AbuseReport(peewee.Model):
    """One report (migration 0012)."""

    drop_id = peewee.IntegerField(index=True)
    reason = peewee.CharField(max_length=32)
    details = peewee.TextField()
    contact = peewee.CharField(max_length=MAX_CONTACT_CHARS, null=True)
    created_at = peewee.DateTimeField()  # naive UTC
    status = peewee.CharField(max_length=16, default=OPEN)
    resolution = peewee.CharField(max_length=32, null=True)  # what the operator did
    resolved_at = peewee.DateTimeField(null=True)
    resolved_by = peewee.CharField(max_length=32, null=True)  # the audit trail's actor

    class Meta:
        database = db
        table_name = "abuse_report"

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, self.reason)


class BadReport(ValueError):
    """The form's fields cannot make a report; the message says what to fix."""


@dataclass(frozen=True)
class ReportForm:
    reason: str
    details: str
    contact: str | None

    @classmethod
    def from_fields(cls, reason: str, details: str, contact: str) -> ReportForm:
        """Validated fields; BadReport naming the first one that is wrong."""
        if reason not in REASONS:
            raise BadReport("choose what is wrong with the file")
        details = "".join(c for c in details if c.isprintable() or c in "\n\t").strip()
        if len(details) > MAX_DETAILS_CHARS:
            raise BadReport(f"the description may be at most {MAX_DETAILS_CHARS} characters")
        contact = contact.strip()
        # isprintable: a NUL would reach PostgreSQL, which refuses it in text.
        if contact and (
            len(contact) > MAX_CONTACT_CHARS
            or not contact.isprintable()
            or not EMAIL.fullmatch(contact)
        ):
            raise BadReport("the contact must be an e-mail address, or left empty")
        return cls(reason, details, contact or None)


def file_report(drop: Drop, form: ReportForm, now: datetime.datetime) -> AbuseReport:
    with db.atomic():
        return AbuseReport.create(
            drop_id=drop.id,
            reason=form.reason,
            details=form.details,
            contact=form.contact,
            created_at=now,
            status=OPEN,
        )


def resolve(
    report: AbuseReport, resolution: str, *, actor: str, now: datetime.datetime
) -> AbuseReport:
    """Close a report with what was done (`dismissed` leaves it dismissed, else resolved)."""
    report.status = DISMISSED if resolution == DISMISSED else RESOLVED
    report.resolution = resolution
    report.resolved_at = now
    report.resolved_by = actor
    with db.atomic():
        report.save()
    return report


@dataclass(frozen=True)
class ReportRow:
    """A report with its drop (None once a purge removed the row)."""

    report: AbuseReport
    drop: Drop | None


@dataclass(frozen=True)
class ReportPage(Paging):
    """One page of reports, newest first; however many arrive, the older ones stay a page
    or more away rather than out of sight."""

    per_page: ClassVar[int] = PER_PAGE
    rows: list[ReportRow]
    page: int
    total: int

    @property
    def current_page(self) -> int:
        return self.page


def list_reports(status: str = OPEN, page: int = 1) -> ReportPage:
    """One page of the newest reports of a status (all of them for ""), each with its drop."""
    query = AbuseReport.select().order_by(AbuseReport.created_at.desc(), AbuseReport.id.desc())
    if status:
        query = query.where(AbuseReport.status == status)
    found = list(query.paginate(page, PER_PAGE))
    ids = {report.drop_id for report in found}
    by_id = {drop.id: drop for drop in Drop.select().where(Drop.id.in_(ids))} if ids else {}
    rows = [ReportRow(report, by_id.get(report.drop_id)) for report in found]
    return ReportPage(rows, page, query.count())


def open_count() -> int:
    return AbuseReport.select().where(AbuseReport.status == OPEN).count()
