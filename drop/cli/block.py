"""`drop-ops block add|list|remove`: drop/protection/blocks.py from the command line."""

from __future__ import annotations

import json

import typer

from drop.clock import utcnow
from drop.protection import audit

block_cli = typer.Typer(
    help="Block uploads from an address or network, or content by its sha256.",
    no_args_is_help=True,
)


def _one_of(address: str | None, sha256: str | None) -> tuple[str, str]:
    from drop.protection import blocks

    if (address is None) == (sha256 is None):
        raise typer.BadParameter("give exactly one of --address and --sha256")
    return (blocks.ADDRESS, address) if address is not None else (blocks.CONTENT, sha256)


@block_cli.command("add")
def add(
    address: str | None = typer.Option(
        None,
        "--address",
        metavar="ADDRESS",
        help="An IPv4 or IPv6 address or CIDR network (1.2.3.0/24): its uploads get 403.",
    ),
    sha256: str | None = typer.Option(
        None,
        "--sha256",
        metavar="HEX",
        help="A file's sha256: uploads of it get 403, existing drops of it answer 451.",
    ),
    reason: str = typer.Option(
        ..., "--reason", help="Why; shown to whoever is refused, and kept in the audit trail."
    ),
    revoke_drops: bool = typer.Option(
        False, "--revoke-drops", help="Also revoke the live drops uploaded from the address."
    ),
):
    """Add a block (takes effect at once on every web process).

    Exactly one of --address and --sha256. Blocking what is already
    blocked keeps the existing block. Recorded in the audit trail.
    """
    from drop.cli.common import connected, load_config
    from drop.ops import blocking
    from drop.protection import blocks
    from drop.storage import open_storage

    kind, text = _one_of(address, sha256)
    if revoke_drops and kind != blocks.ADDRESS:
        raise typer.BadParameter("--revoke-drops goes with --address")
    try:
        wanted = blocks.target(kind, text)
    except blocks.BadBlock as error:
        raise typer.BadParameter(str(error), param_hint=f"--{kind_option(kind)}") from None
    config = load_config()
    with connected(config):
        try:
            outcome = blocking.block(
                wanted,
                reason,
                actor=audit.CLI_ACTOR,
                address=None,
                now=utcnow(),
                storage=open_storage(config),
                revoke_drops=revoke_drops,
            )
        except blocks.BadBlock as error:
            raise typer.BadParameter(str(error), param_hint="--reason") from None
    verb = "blocked" if outcome.created else "already blocked"
    typer.echo(f"{verb} {blocking.describe(outcome.block)} (block {outcome.block.id})")
    if revoke_drops:
        typer.echo(f"revoked {len(outcome.revoked)} live drops uploaded from it")


def kind_option(kind: str) -> str:
    return "address" if kind == "address" else "sha256"


@block_cli.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, for scripts."),
):
    """List every block, newest first: id, kind, value, reason, when, by whom."""
    from drop.cli.common import connected, load_config
    from drop.protection import blocks

    config = load_config()
    with connected(config):
        found = blocks.list_blocks()
    if as_json:
        typer.echo(json.dumps([entry.as_json() for entry in found], indent=2))
        return
    if not found:
        typer.echo("no blocks")
    for entry in found:
        typer.echo(
            f"{entry.id:>5}  {entry.kind:<8}  {entry.value:<43}  "
            f"{entry.created_at:%Y-%m-%d %H:%M}  {entry.created_by:<9}  {entry.reason}"
        )


@block_cli.command("remove")
def remove(
    block_id: int | None = typer.Argument(None, metavar="[ID]", help="The block's id (see list)."),
    address: str | None = typer.Option(
        None, "--address", metavar="ADDRESS", help="The address block to remove, as added."
    ),
    sha256: str | None = typer.Option(None, "--sha256", metavar="HEX", help="The content block."),
):
    """Remove a block, by its id or by what it blocks; recorded in the audit trail.

    Uploads are accepted again at once; drops of unblocked content
    serve again if they are still live.
    """
    from drop.cli.common import connected, load_config
    from drop.ops import blocking
    from drop.protection import blocks

    if sum(value is not None for value in (block_id, address, sha256)) != 1:
        raise typer.BadParameter("give a block's ID, or one of --address and --sha256")
    wanted = None
    if block_id is None:
        kind, text = _one_of(address, sha256)
        try:
            wanted = blocks.target(kind, text)
        except blocks.BadBlock as error:
            raise typer.BadParameter(str(error)) from None
    config = load_config()
    with connected(config):
        if wanted is not None:
            found = blocks.Block.get_or_none(
                (blocks.Block.kind == wanted.kind) & (blocks.Block.value == wanted.value)
            )
            block_id = found.id if found else None
        removed = None
        if block_id is not None:
            removed = blocking.unblock(block_id, actor=audit.CLI_ACTOR, address=None, now=utcnow())
    if removed is None:
        typer.echo("drop-ops: no such block", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed the block on {blocking.describe(removed)}")
