"""`drop-ops storage migrate`: blobs moved between local disk and S3."""

from __future__ import annotations

import typer

from drop.cli.common import (
    connected,
    load_config,
)
from drop.config import ConfigError

storage_cli = typer.Typer(help="Blob storage: move blobs between local disk and S3.")


@storage_cli.command("migrate")
def storage_migrate(
    to: str = typer.Option(..., "--to", help="Where the blobs go: s3 or local."),
):
    """Copy every live drop's blob to another store, verifying each sha256.

    --to s3 copies from DROP_DATA_DIR/blobs into the bucket of the
    DROP_S3_* settings; --to local copies back. Blobs already in the
    target are skipped, so an interrupted run is simply run again.
    Then switch DROP_STORAGE, restart, and run it once more for the
    uploads that arrived meanwhile. Source blobs are left in place.
    Exit 1 when a live drop's blob could not be copied.
    """
    import dataclasses

    from drop.storage import BACKENDS, open_storage
    from drop.storage.migrate import migrate_blobs

    if to not in BACKENDS:
        raise typer.BadParameter("s3 or local", param_hint="--to")
    config = load_config()
    source_kind = "local" if to == "s3" else "s3"
    try:
        dataclasses.replace(config, storage="s3").validate()  # the S3 side is named
    except ConfigError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None
    source = open_storage(dataclasses.replace(config, storage=source_kind))
    target = open_storage(dataclasses.replace(config, storage=to))
    target.ensure_ready()
    typer.echo(f"copying live blobs from {source.describe()} to {target.describe()}")
    with connected(config):
        report = migrate_blobs(source, target)
    for token in report.missing:
        typer.echo(f"live drop without its blob in the source: {token[:8]}")
    for token in report.mismatched:
        typer.echo(f"copy of {token[:8]} did not match its sha256: not kept")
    typer.echo(
        f"{report.copied} blobs copied, {report.already_there} already there, "
        f"{len(report.missing)} missing, {len(report.mismatched)} mismatched"
    )
    if not report.complete:
        raise typer.Exit(1)
    if config.storage != to:
        typer.echo(f"every live blob is in {to}: set DROP_STORAGE={to}, restart, run this again")
