"""Revoking a drop as an operator does it, from its row on the dashboard or from an abuse
report: the drop ended, its blob queued for deletion, and the audit trail told."""

from __future__ import annotations

import datetime

from drop.db.models import Drop
from drop.drops import lifecycle as drops
from drop.protection import audit
from drop.storage import BlobStorage


def revoke(
    storage: BlobStorage,
    drop: Drop,
    *,
    actor: str,
    address: str | None,
    now: datetime.datetime,
    detail: dict | None = None,
) -> bool:
    """Revoke `drop` and record it as `actor` from `address`; `detail` adds to the record.
    Whether the drop was live until now."""
    was_live = drops.revoke_drop(storage, drop.token, now)
    audit.record(
        audit.REVOKE,
        actor=actor,
        at=now,
        address=address,
        target=audit.drop_target(drop),
        detail={
            "drop_id": drop.id,
            "token_prefix": audit.token_prefix(drop.token),
            "was_live": was_live,
            **(detail or {}),
        },
    )
    return was_live
