"""Page arithmetic for listings shown a page at a time (the dashboard's drops, the audit trail)."""

from __future__ import annotations

from typing import ClassVar


class Paging:
    """Page arithmetic for one page of a listing: `total` rows, `per_page` a page."""

    per_page: ClassVar[int]
    total: int

    @property
    def current_page(self) -> int:
        raise NotImplementedError

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def has_previous(self) -> bool:
        return self.current_page > 1

    @property
    def has_next(self) -> bool:
        return self.current_page < self.pages
