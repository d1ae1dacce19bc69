"""Blocks: addresses or networks that may not upload, content that may not be stored or served.

An **address block** holds a network (a single address is a /32 or /128). Uploads from
inside it are refused before their body is read. A **content block** holds a sha256:
uploads of those bytes are refused once they have arrived (the hash is known only
then), and existing drops of that content answer 451 and never serve a byte.

Every check reads the `block` table (migration 0011) with one indexed query, so a block
added on one web node holds on every node at once; the download claim itself carries
the content check (drop.drops.lifecycle.claim_download), so no race can serve blocked bytes.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

import peewee

from drop.db import statements
from drop.db.models import DOWNLOADED, LIVE, Drop, db

ADDRESS = "address"
CONTENT = "content"
KINDS = (ADDRESS, CONTENT)
MAX_REASON_CHARS = 500
SHA256 = re.compile(r"[0-9a-f]{64}")
# IPv4 networks live in ::ffff:0:0/96, so both families share one ordered range space.
IPV4_MAPPED = int(ipaddress.IPv6Address("::ffff:0:0"))
# Live drops looked at per query when revoking an address's drops.
REVOKE_BATCH = 500


class Block(peewee.Model):
    """One block (migration 0011)."""

    kind = peewee.CharField(max_length=16)
    value = peewee.CharField(max_length=64)  # a network "192.0.2.0/24", or a sha256
    range_start = peewee.FixedCharField(max_length=32, null=True)  # address blocks only
    range_end = peewee.FixedCharField(max_length=32, null=True)
    reason = peewee.TextField()
    created_at = peewee.DateTimeField()  # naive UTC
    created_by = peewee.CharField(max_length=32)  # the audit trail's actor

    class Meta:
        database = db
        table_name = "block"

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "value": self.value,
            "reason": self.reason,
            "created_at": self.created_at.isoformat() + "Z",
            "created_by": self.created_by,
        }

    def matches_address(self, address: str) -> bool:
        point = address_key(address)
        return point is not None and self.range_start <= point <= self.range_end


class BadBlock(ValueError):
    """What the operator typed is not an address, network or sha256; the message says why."""


@dataclass(frozen=True)
class BlockTarget:
    """A validated block, ready to store: its kind, canonical value and range."""

    kind: str
    value: str
    range_start: str | None = None
    range_end: str | None = None


def address_target(text: str) -> BlockTarget:
    """An address or CIDR network (IPv4 or IPv6) as a block; BadBlock if it is neither.

    Host bits are allowed and dropped (192.0.2.7/24 blocks 192.0.2.0/24), as an operator
    pasting an address with a prefix means its network.
    """
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise BadBlock(f"{text!r} is not an IP address or network (e.g. 192.0.2.0/24)") from None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:  # ::ffff:192.0.2.0/120 is the IPv4 network it spells
            network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    start = _key(network.network_address)
    end = _key(network.broadcast_address)
    return BlockTarget(ADDRESS, network.with_prefixlen, start, end)


def content_target(text: str) -> BlockTarget:
    """A sha256 (64 hex digits, any case) as a block; BadBlock otherwise."""
    value = text.strip().lower()
    if not SHA256.fullmatch(value):
        raise BadBlock("a content block is a sha256: 64 hexadecimal digits")
    return BlockTarget(CONTENT, value)


def target(kind: str, text: str) -> BlockTarget:
    if kind == ADDRESS:
        return address_target(text)
    if kind == CONTENT:
        return content_target(text)
    raise BadBlock(f"a block is of kind {' or '.join(KINDS)}")


def address_key(address: str) -> str | None:
    """A client address as the 32 hex digits the table compares; None if it is no address."""
    try:
        return _key(ipaddress.ip_address(address))
    except ValueError:
        return None


def _key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    number = int(address) + IPV4_MAPPED if address.version == 4 else int(address)
    return f"{number:032x}"


def address_block(address: str) -> Block | None:
    """The block that covers `address`, if any: one indexed query (the upload path's)."""
    point = address_key(address)
    if point is None:
        return None
    p = db.param
    return statements.first_row(
        Block,
        "block_address",
        f'SELECT {statements.columns(Block)} FROM "block" WHERE "kind" = {p} '
        f'AND "range_start" <= {p} AND "range_end" >= {p} LIMIT 1',
        (ADDRESS, point, point),
    )


def content_block(sha256: str) -> Block | None:
    """The block on this content, if any: one lookup in the unique (kind, value) index."""
    p = db.param
    return statements.first_row(
        Block,
        "block_content",
        f'SELECT {statements.columns(Block)} FROM "block" WHERE "kind" = {p} AND "value" = {p}',
        (CONTENT, sha256),
    )


def blocked_contents(sha256s: set[str]) -> set[str]:
    """Which of these contents are blocked: one query, for a page of drops."""
    if not sha256s:
        return set()
    query = Block.select(Block.value).where((Block.kind == CONTENT) & Block.value.in_(sha256s))
    return {row.value for row in query}


def add_block(
    wanted: BlockTarget, reason: str, *, actor: str, now: datetime.datetime
) -> tuple[Block, bool]:
    """Store a block; return it and whether it is new (an existing one is left as it was)."""
    reason = " ".join(reason.split())[:MAX_REASON_CHARS]
    if not reason:
        raise BadBlock("give a reason: it is shown to whoever is refused")
    # PostgreSQL refuses a NUL in text; no other control character belongs in a reason.
    if not reason.isprintable():
        raise BadBlock("the reason may hold no control characters (such as NUL)")
    existing = Block.get_or_none((Block.kind == wanted.kind) & (Block.value == wanted.value))
    if existing is not None:
        return existing, False
    try:
        with db.atomic():
            block = Block.create(
                kind=wanted.kind,
                value=wanted.value,
                range_start=wanted.range_start,
                range_end=wanted.range_end,
                reason=reason,
                created_at=now,
                created_by=actor,
            )
    except peewee.IntegrityError:  # added by someone else a moment ago
        return Block.get((Block.kind == wanted.kind) & (Block.value == wanted.value)), False
    return block, True


def remove_block(block_id: int) -> Block | None:
    """Delete a block; return it as it was, or None if there was none."""
    block = Block.get_or_none(Block.id == block_id)
    if block is not None:
        Block.delete().where(Block.id == block_id).execute()
    return block


def list_blocks() -> list[Block]:
    """Every block, newest first (an operator's list: tens or hundreds of rows)."""
    return list(Block.select().order_by(Block.created_at.desc(), Block.id.desc()))


def live_drops_from(block: Block) -> Iterator[Drop]:
    """The live drops (and used-up ones still kept for a resume) whose stored uploader
    address is inside an address block.

    Addresses are kept for DROP_UPLOADER_RETENTION only, so this walks at most that
    window's live uploads, in batches by id; the network test runs here, as SQLite has
    no network type.
    """
    held_for_resume = (Drop.status == DOWNLOADED) & Drop.blob_deleted_at.is_null()
    last_id = 0
    while True:
        batch = list(
            Drop.select()
            .where(
                # Used-up drops whose blob is kept for a resume are ended too.
                ((Drop.status == LIVE) | held_for_resume)
                & Drop.uploader_address.is_null(False)
                & (Drop.id > last_id)
            )
            .order_by(Drop.id)
            .limit(REVOKE_BATCH)
        )
        for drop in batch:
            if block.matches_address(drop.uploader_address):
                yield drop
        if len(batch) < REVOKE_BATCH:
            return
        last_id = batch[-1].id


def live_drops_with(sha256: str) -> int:
    """How many live drops hold this content (for the operator's confirmation)."""
    return Drop.select().where((Drop.status == LIVE) & (Drop.sha256 == sha256)).count()
