"""What an operator may change on one drop from the dashboard: its expiry and download limit.

Both are single conditional UPDATEs on a live drop, so they cannot race a download's
claim or the sweep: a drop the sweep has just expired, or whose last download was just
claimed, is no longer live and the edit is refused instead of bringing it back.

- Expiry: set to 1 second .. DROP_MAX_EXPIRES_IN from *now* (the longest a fresh upload
  could get), longer or shorter than before; an operator may extend a drop again later.
- Download limit: 1 .. DROP_MAX_DOWNLOADS and more than the downloads already used (a
  limit equal to them would end the drop; revoking does that, and deletes the blob).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from drop.db.models import LIVE, Drop, db
from drop.ops.listing import drop_or_404
from drop.refusals import Conflict, Invalid, Refused
from drop.wording import plural

# Longer than any number a field may hold, and far below int()'s 4,300-digit limit.
MAX_NUMBER_DIGITS = 18


class EditRefused(Refused):
    """The edit cannot be made; `message` says why, on the drop's panel."""

    @property
    def message(self) -> str:
        return self.description or ""


class EditInvalid(EditRefused, Invalid):
    """A value the form may not hold."""


class EditConflict(EditRefused, Conflict):
    """The drop is in no state to be changed."""


@dataclass(frozen=True)
class Edit:
    drop: Drop  # as it is after the edit
    before: object
    after: object


def whole_number(raw: str | None, name: str, low: int, high: int, unit: str) -> int:
    """A form field as an int from `low` to `high` (counting `unit`); EditRefused (400) for
    anything else."""
    text = (raw or "").strip()
    if not text or len(text) > MAX_NUMBER_DIGITS or not text.isascii() or not text.isdigit():
        raise EditInvalid(f"{name} must be a whole number of {unit} from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise EditInvalid(f"{name} must be from {low} to {high} {unit}, got {value}")
    return value


def set_expiry(
    drop_id: int, expires_in: str | None, now: datetime.datetime, max_expires_in: int
) -> Edit:
    """Make the live drop expire `expires_in` seconds from `now`."""
    seconds = whole_number(expires_in, "expires_in", 1, max_expires_in, "seconds")
    before = drop_or_404(drop_id)
    after = now + datetime.timedelta(seconds=seconds)
    with db.atomic():
        changed = (
            Drop.update(expires_at=after)
            .where((Drop.id == drop_id) & (Drop.status == LIVE))
            .execute()
        )
    if not changed:
        raise _not_live(drop_id)
    return Edit(drop_or_404(drop_id), before.expires_at, after)


def set_download_limit(drop_id: int, max_downloads: str | None, most_allowed: int) -> Edit:
    """Allow the live drop `max_downloads` downloads in all, more than it has had."""
    limit = whole_number(max_downloads, "max_downloads", 1, most_allowed, "downloads")
    before = drop_or_404(drop_id)
    with db.atomic():
        # Checked in the statement itself: a download claimed meanwhile counts.
        changed = (
            Drop.update(max_downloads=limit)
            .where((Drop.id == drop_id) & (Drop.status == LIVE) & (Drop.downloads < limit))
            .execute()
        )
    if not changed:
        drop = drop_or_404(drop_id)
        if drop.status != LIVE:
            raise _not_live(drop_id)
        raise EditInvalid(
            f"it has been downloaded {plural(drop.downloads, 'time')} already: the limit "
            "must be more than that (revoke it to end it now)",
        )
    return Edit(drop_or_404(drop_id), before.max_downloads, limit)


def _not_live(drop_id: int) -> EditRefused:
    drop = drop_or_404(drop_id)
    return EditConflict(f"this drop is {drop.status}: only a live drop can be changed")
