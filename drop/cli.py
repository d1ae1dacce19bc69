"""drop-ops: the operator's command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from drop.config import Config, ConfigError

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "ops" / "gunicorn.conf.py"

cli = typer.Typer(
    help="Operate a drop service: migrate its database, run it, and look after what it stores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def load_config() -> Config:
    """The configuration from the environment, or exit 1 with a one-line message."""
    try:
        return Config.from_env()
    except ConfigError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def migrate(
    show_status: bool = typer.Option(
        False, "--status", help="List applied and pending migrations; change nothing."
    ),
):
    """Apply pending database migrations (safe to run again)."""
    from drop import migrations
    from drop.models import open_database

    config = load_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    database = open_database(config.effective_database_url)
    with database:
        if show_status:
            for entry in migrations.status(database):
                state = (
                    f"applied {entry.applied_at:%Y-%m-%d %H:%M:%S}" if entry.applied else "pending"
                )
                typer.echo(f"{entry.name}  {state}")
            return
        applied = migrations.migrate(database)
    typer.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


@cli.command()
def serve(
    bind: str = typer.Option(
        "127.0.0.1:8000", envvar="DROP_BIND", help="Address and port to listen on."
    ),
    workers: int = typer.Option(
        0, envvar="DROP_WEB_WORKERS", help="Gunicorn worker processes (0: two per core, plus one)."
    ),
    with_worker: bool = typer.Option(
        False,
        "--with-worker/--no-worker",
        help="Also run the Huey worker beside the web server (single-machine setups).",
    ),
):
    """Run the web server (gunicorn with ops/gunicorn.conf.py)."""
    from drop.multiprocess import prepare_metrics_dir

    # Before the environment is copied: the web server and the worker count into
    # the same metrics directory.
    prepare_metrics_dir(load_config())
    env = dict(os.environ, DROP_BIND=bind)
    if workers:
        env["DROP_WEB_WORKERS"] = str(workers)
    web = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "drop.wsgi:app"]
    background = [sys.executable, "-m", "drop.cli", "worker"] if with_worker else None
    raise typer.Exit(_run_together(web, background, env))


@cli.command()
def worker(
    threads: int = typer.Option(2, help="Worker threads executing tasks."),
):
    """Run the Huey consumer: blob deletion and the per-minute expiry sweep."""
    from drop.logs import configure_logging
    from drop.multiprocess import prepare_metrics_dir

    config = load_config()
    configure_logging(config.log_format)
    # Before drop.tasks imports prometheus-client: task failures are counted in files
    # that the web server's /metrics reads.
    prepare_metrics_dir(config)
    from drop.tasks import huey

    huey.create_consumer(workers=threads, worker_type="thread").run()


@cli.command("nginx-conf")
def nginx_conf(
    listen: str = typer.Option("80", help="What nginx listens on: a port, or address:port."),
    server_name: str = typer.Option("_", help="The public host name (_ matches any)."),
    upstream: str = typer.Option(
        "127.0.0.1:8000", envvar="DROP_BIND", help="Where gunicorn listens (DROP_BIND)."
    ),
):
    """Print ops/nginx.conf filled in for this environment (needs DROP_ACCEL_REDIRECT)."""
    from drop.nginx_conf import nginx_values, render_nginx_conf

    try:
        values = nginx_values(
            load_config(), listen=listen, server_name=server_name, upstream=upstream
        )
    except ValueError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(render_nginx_conf(values), nl=False)


def _run_together(main: list[str], companion: list[str] | None, env: dict) -> int:
    """Run `main` in the foreground and `companion` beside it; stop both when either ends."""
    helper = subprocess.Popen(companion, env=env) if companion else None
    server = subprocess.Popen(main, env=env)

    def forward(signum, frame):
        for process in (server, helper):
            if process and process.poll() is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        code = server.wait()
    finally:
        if helper and helper.poll() is None:
            helper.terminate()
            helper.wait(timeout=30)
    return code


def main():
    cli()


if __name__ == "__main__":
    main()
