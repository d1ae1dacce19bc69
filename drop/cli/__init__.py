"""drop-ops: the operator's command line."""

from __future__ import annotations

import typer

from drop.cli import backup, block, drops, service, storage, tokens

cli = typer.Typer(
    help="Operate a drop service: migrate its database, run it, and look after what it stores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        # The installed distribution's metadata: pyproject.toml's `version`, the one source.
        typer.echo(f"drop-ops {version('drop')}")
        raise typer.Exit()


@cli.callback()
def _options(
    show_version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print drop's version and exit.",
    ),
):
    """Operate a drop service: migrate its database, run it, and look after what it stores."""


# The commands, one module per group, in the order `--help` lists them.
cli.add_typer(block.block_cli, name="block")
cli.command()(service.migrate)
cli.command()(drops.purge)
cli.command()(drops.stats)
cli.command()(drops.audit)
cli.command()(drops.scan)
cli.command()(service.check)
cli.command()(service.serve)
cli.command()(service.worker)
cli.add_typer(storage.storage_cli, name="storage")
cli.command("nginx-conf")(service.nginx_conf)
cli.add_typer(tokens.token_cli, name="token")
cli.command()(backup.backup)
cli.command()(backup.restore)


def main():
    """The `drop-ops` console script."""
    cli()


if __name__ == "__main__":
    main()
