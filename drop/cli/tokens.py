"""`drop-ops token create|list|revoke`: the API tokens of trusted uploaders."""

from __future__ import annotations

import json

import typer

from drop.cli.common import (
    _bounded,
    connected,
    load_config,
    parse_duration,
    parse_size,
)
from drop.clock import utcnow
from drop.config import Config

token_cli = typer.Typer(
    help="Manage trusted uploaders' API tokens: create, list, revoke.\n\n"
    "A token is sent as `Authorization: Bearer <token>` with an upload and lifts the "
    "anonymous limits to its own.",
    no_args_is_help=True,
)


@token_cli.command("create")
def token_create(
    name: str = typer.Option(
        ..., "--name", metavar="NAME", help="A name for people: letters, digits, . _ -"
    ),
    max_upload_bytes: str | None = typer.Option(
        None,
        "--max-upload-bytes",
        metavar="SIZE",
        help="Largest file the token may upload (2GiB, 500MiB, bytes). "
        "Default: DROP_MAX_UPLOAD_BYTES.",
    ),
    max_expires_in: str | None = typer.Option(
        None,
        "--max-expires-in",
        metavar="DURATION",
        help="Longest expiry it may ask for (12h, 30d, 2w, seconds). Default: DROP_MAX_EXPIRES_IN.",
    ),
    uploads_per_hour: int | None = typer.Option(
        None,
        "--uploads-per-hour",
        metavar="N",
        help="Its own hourly upload limit. Default: none (not counted against any quota).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, for scripts."),
):
    """Create an API token and print its secret, this once.

    drop keeps only the secret's sha256: store it now (a CI secret, a
    password manager). The token is sent as `Authorization: Bearer
    <secret>`; its limits replace the anonymous ones for its uploads.
    """
    from drop.ops import tokens as token_ops
    from drop.protection import api_tokens, audit

    if not api_tokens.NAME_SHAPE.fullmatch(name):
        raise typer.BadParameter(
            "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            param_hint="--name",
        )
    size = max_upload_bytes and _bounded(
        parse_size(max_upload_bytes),
        token_ops.MAX_TOKEN_UPLOAD_BYTES,
        "--max-upload-bytes",
        "1 byte to 1 TiB",
    )
    expiry = max_expires_in and _bounded(
        int(parse_duration(max_expires_in).total_seconds()),
        token_ops.MAX_TOKEN_EXPIRES_IN,
        "--max-expires-in",
        "1 second to 366 days",
    )
    if uploads_per_hour is not None:
        _bounded(
            uploads_per_hour,
            token_ops.MAX_TOKEN_UPLOADS_PER_HOUR,
            "--uploads-per-hour",
            str(token_ops.MAX_TOKEN_UPLOADS_PER_HOUR),
        )
    config = load_config()
    with connected(config):
        try:
            issued = token_ops.issue_token(
                name,
                now=utcnow(),
                actor=audit.CLI_ACTOR,
                max_upload_bytes=size or None,
                max_expires_in=expiry or None,
                uploads_per_hour=uploads_per_hour,
            )
        except api_tokens.NameTaken as taken:
            typer.echo(f"drop-ops: {taken}", err=True)
            raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"token": issued.token.as_json(), "secret": issued.secret}, indent=2))
        return
    typer.echo(f"created API token {issued.token.name} (id {issued.token.id})")
    typer.echo(_token_limits(issued.token, config))
    typer.echo("its secret, shown this once (drop keeps only a hash):")
    typer.echo(issued.secret)


@token_cli.command("list")
def token_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, for scripts."),
):
    """List API tokens: live ones first, then revoked ones.

    Each with its id, name, the first characters of its secret, its
    limits (`default`: the instance's own), when it was created, last
    used and revoked. Secrets themselves are not kept and never shown.
    """
    from drop.protection import api_tokens

    config = load_config()
    with connected(config):
        tokens = api_tokens.all_tokens()
    if as_json:
        typer.echo(json.dumps([token.as_json() for token in tokens], indent=2))
        return
    if not tokens:
        typer.echo("no API tokens")
    for token in tokens:
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked else "live"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        typer.echo(
            f"{token.id:>4}  {token.name:<16}  {token.prefix}…  {state}  "
            f"created {token.created_at:%Y-%m-%d %H:%M}  last used {used}"
        )
        typer.echo(f"      {_token_limits(token, config)}")


@token_cli.command("revoke")
def token_revoke(
    name_or_id: str = typer.Argument(..., metavar="NAME_OR_ID", help="The token's name or id."),
):
    """Revoke an API token: its next upload, on every web server, gets 401."""
    from drop.ops import tokens as token_ops
    from drop.protection import api_tokens, audit

    config = load_config()
    with connected(config):
        token = api_tokens.find(name_or_id)
        if token is None:
            typer.echo(
                f"drop-ops: no live API token named {name_or_id!r}, nor with that id", err=True
            )
            raise typer.Exit(1)
        revoked = token_ops.revoke_token(token, now=utcnow(), actor=audit.CLI_ACTOR)
    if revoked:
        typer.echo(f"revoked API token {token.name} (id {token.id})")
    else:
        typer.echo(f"API token {token.name} (id {token.id}) was already revoked")


def _token_limits(token, config: Config) -> str:
    from drop.wording import duration, human_bytes

    size = token.max_upload_bytes or config.max_upload_bytes
    expiry = token.max_expires_in or config.max_expires_in
    hourly = (
        f"{token.uploads_per_hour} uploads an hour" if token.uploads_per_hour else "no hourly limit"
    )
    return (
        f"files up to {human_bytes(size)}{'' if token.max_upload_bytes else ' (default)'}, "
        f"expiry up to {duration(expiry)}{'' if token.max_expires_in else ' (default)'}, {hourly}"
    )
