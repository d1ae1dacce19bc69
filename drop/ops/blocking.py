"""Blocking and unblocking as an operator does it, from drop-ops or the dashboard: the block,
the optional revocation of an address's live drops, and the audit trail's record of it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from drop.db.models import Drop
from drop.drops import lifecycle as drops
from drop.protection import audit, blocks
from drop.protection.blocks import Block, BlockTarget
from drop.storage import BlobStorage

SHA256_SHOWN = 12  # characters of a content block's sha256 in the trail's "target"


@dataclass(frozen=True)
class BlockOutcome:
    block: Block
    created: bool  # False: the same block was already there, and is left as it was
    revoked: list[Drop] = field(default_factory=list)


def describe(block: Block | BlockTarget) -> str:
    """A block as the audit trail and the dashboard name it."""
    if block.kind == blocks.CONTENT:
        return f"content {block.value[:SHA256_SHOWN]}…"
    return f"address {block.value}"


def block(
    wanted: BlockTarget,
    reason: str,
    *,
    actor: str,
    address: str | None,
    now: datetime.datetime,
    storage: BlobStorage,
    revoke_drops: bool = False,
    context: dict | None = None,
) -> BlockOutcome:
    """Add a block (BadBlock for no reason); revoke the address's live drops when asked.

    `context` (the drop or report it was done from) goes into the audit record.
    """
    added, created = blocks.add_block(wanted, reason, actor=actor, now=now)
    revoked = []
    if revoke_drops and added.kind == blocks.ADDRESS:
        revoked = revoke_live_drops_from(added, storage, now)
    detail = {"block_id": added.id, "reason": added.reason, **(context or {})}
    if not created:
        detail["already_blocked"] = True
    if revoke_drops and added.kind == blocks.ADDRESS:
        detail["revoked_drops"] = len(revoked)
    audit.record(
        audit.BLOCK, actor=actor, at=now, address=address, target=describe(added), detail=detail
    )
    return BlockOutcome(added, created, revoked)


def unblock(
    block_id: int, *, actor: str, address: str | None, now: datetime.datetime
) -> Block | None:
    """Remove a block and record it; None (and no record) if there was no such block."""
    removed = blocks.remove_block(block_id)
    if removed is not None:
        audit.record(
            audit.UNBLOCK,
            actor=actor,
            at=now,
            address=address,
            target=describe(removed),
            detail={"block_id": removed.id, "reason": removed.reason},
        )
    return removed


def revoke_live_drops_from(block: Block, storage, now: datetime.datetime) -> list[Drop]:
    """Revoke every live drop uploaded from inside an address block and delete its blob."""
    return [
        drop
        for drop in list(blocks.live_drops_from(block))
        if drops.revoke_drop(storage, drop.token, now)
    ]
