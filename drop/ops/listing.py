"""Pages of drops for the operator's table, newest first, filtered by status and name."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import ClassVar

from drop.db.models import STATUSES, Drop
from drop.db.paging import Paging
from drop.refusals import NotFound

PER_PAGE = 20
MAX_QUERY_CHARS = 200
# Two million rows deep, beyond any table anyone pages through, and an OFFSET every
# database takes.
MAX_PAGE = 100_000


class PageOutOfRange(ValueError):
    """A page number past MAX_PAGE: a well-formed number, but no page there can exist."""


def page_number(page: str | None) -> int:
    """A page number from a query parameter; nonsense is page 1.

    Raises PageOutOfRange for a number past MAX_PAGE.
    """
    try:
        number = max(int(page or 1), 1)
    except ValueError:  # not a number, or one longer than int() reads
        number = 1
    if number > MAX_PAGE:
        raise PageOutOfRange(f"page must be from 1 to {MAX_PAGE}")
    return number


@dataclass(frozen=True)
class DropFilter:
    status: str = ""  # "" for every status
    name: str = ""  # a part of the filename, case-insensitive
    page: int = 1

    @classmethod
    def from_params(cls, status: str | None, name: str | None, page: str | None) -> DropFilter:
        """A filter from query parameters; nonsense falls back to the defaults.

        Raises PageOutOfRange for a page number past MAX_PAGE.
        """
        status = status if status in STATUSES else ""
        number = page_number(page)
        # Stored names hold no control characters (filenames.py), so dropping them changes
        # no match; PostgreSQL refuses a NUL in a query outright.
        name = "".join(c for c in (name or "") if unicodedata.category(c) != "Cc")
        return cls(status, name.strip()[:MAX_QUERY_CHARS], number)

    def params(self, page: int | None = None) -> dict[str, str]:
        return {"status": self.status, "name": self.name, "page": str(page or self.page)}


@dataclass(frozen=True)
class DropPage(Paging):
    per_page: ClassVar[int] = PER_PAGE
    drops: list[Drop]
    filter: DropFilter
    total: int

    @property
    def current_page(self) -> int:
        return self.filter.page


def drop_or_404(drop_id: int) -> Drop:
    """The drop with this id, whatever its status; 404 when there is none."""
    drop = Drop.get_or_none(Drop.id == drop_id)
    if drop is None:
        raise NotFound("there is no drop with this id")
    return drop


def list_drops(wanted: DropFilter) -> DropPage:
    query = Drop.select()
    if wanted.status:
        query = query.where(Drop.status == wanted.status)
    if wanted.name:
        query = query.where(Drop.filename.contains(wanted.name))
    total = query.count()
    rows = query.order_by(Drop.created_at.desc(), Drop.id.desc()).paginate(wanted.page, PER_PAGE)
    return DropPage(list(rows), wanted, total)
