"""Running the service: `migrate`, `check`, `serve`, `worker` and `nginx-conf`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import typer

from drop.cli.common import (
    connected,
    installed,
    load_config,
    parse_size,
)
from drop.config import Config, ConfigError


def migrate(
    show_status: bool = typer.Option(
        False, "--status", help="List applied and pending migrations; change nothing."
    ),
):
    """Apply pending database migrations (safe to run again)."""
    from drop.db import migrations

    config = load_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with installed(), connected(config) as database:
        if show_status:
            for entry in migrations.status(database):
                state = (
                    f"applied {entry.applied_at:%Y-%m-%d %H:%M:%S}" if entry.applied else "pending"
                )
                typer.echo(f"{entry.name}  {state}")
            return
        applied = migrations.migrate(database)
    typer.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


def check(
    fix: bool = typer.Option(
        False,
        "--fix",
        help="With DROP_STORAGE=s3, set the bucket's lifecycle rules (see Scale out on S3).",
    ),
):
    """Check that drop can run: one line per check, exit 1 if any fails.

    Configuration, database (reachable, migrated), Redis, storage
    (writable, with DROP_MIN_FREE_BYTES free) and the worker (a recent
    heartbeat). --fix with S3 also makes the bucket abort abandoned
    multipart uploads after a week and expire objects older than any
    drop can live.
    """
    from drop.ops.checks import fix_object_store_lifecycle, run_checks
    from drop.storage import S3

    try:
        config = Config.from_env()
    except ConfigError as error:
        typer.echo(f"FAIL  config    {error}")
        raise typer.Exit(1) from None
    typer.echo(f"ok    config    data in {config.data_dir}")

    def results():
        yield from run_checks(config)  # each line as soon as its check is done
        if fix and config.storage == S3:
            with connected(config):
                yield fix_object_store_lifecycle(config)

    failed = False
    for result in results():
        typer.echo(f"{'ok  ' if result.ok else 'FAIL'}  {result.name:<8}  {result.detail}")
        failed = failed or not result.ok
    if failed:
        raise typer.Exit(1)


def serve(
    bind: str = typer.Option(
        "127.0.0.1:8000", envvar="DROP_BIND", help="Address and port to listen on."
    ),
    workers: int = typer.Option(
        0,
        envvar="DROP_WEB_WORKERS",
        help="Gunicorn worker processes (0: one per core, at least two).",
    ),
    with_worker: bool = typer.Option(
        False,
        "--with-worker/--no-worker",
        help="Also run the Huey worker beside the web server (single-machine setups).",
    ),
):
    """Run the web server (gunicorn with ops/gunicorn.conf.py)."""
    from drop import bundled
    from drop.runtime.multiprocess import prepare_metrics_dir

    with installed():
        bundled.verify()
        gunicorn_conf = bundled.file("ops", "gunicorn.conf.py")
    # Before the environment is copied: the web server and the worker count into
    # the same metrics directory.
    prepare_metrics_dir(load_config())
    env = dict(os.environ, DROP_BIND=bind)
    if workers:
        env["DROP_WEB_WORKERS"] = str(workers)
    web = [sys.executable, "-m", "gunicorn", "-c", str(gunicorn_conf), "drop.wsgi:app"]
    background = [sys.executable, "-m", "drop.cli", "worker"] if with_worker else None
    raise typer.Exit(_run_together(web, background, env))


def worker(
    threads: int = typer.Option(2, help="Worker threads executing tasks."),
):
    """Run the Huey consumer: blob deletion, the per-minute sweep and reconciliation."""
    from drop.runtime.logs import configure_logging
    from drop.runtime.multiprocess import prepare_metrics_dir

    config = load_config()
    configure_logging(config.log_format)
    # Before drop.tasks imports prometheus-client: task failures are counted in files
    # that the web server's /metrics reads.
    prepare_metrics_dir(config)
    from drop.tasks import huey

    # A worker killed mid-sweep leaves the sweep's lock behind; a fresh one clears it.
    # Two sweeps at once are safe (each batch re-checks its rows), only wasteful.
    huey.create_consumer(workers=threads, worker_type="thread", flush_locks=True).run()


def nginx_conf(
    listen: str = typer.Option("80", help="What nginx listens on: a port, or address:port."),
    server_name: str = typer.Option("_", help="The public host name (_ matches any)."),
    upstream: str = typer.Option(
        "127.0.0.1:8000", envvar="DROP_BIND", help="Where gunicorn listens (DROP_BIND)."
    ),
    access_log: str | None = typer.Option(
        None,
        help="This site's access log (no query strings, tokens cut short).",
        show_default="/var/log/nginx/drop.access.log",
    ),
    max_upload_bytes: str | None = typer.Option(
        None,
        "--max-upload-bytes",
        metavar="SIZE",
        help="Largest file nginx lets through, when API tokens allow more than "
        "DROP_MAX_UPLOAD_BYTES (e.g. 2GiB); drop still holds each upload to its own limit.",
        show_default="DROP_MAX_UPLOAD_BYTES",
    ),
    tls_certificate: str | None = typer.Option(
        None,
        metavar="PATH",
        help="Serve HTTPS with this certificate chain (certbot's fullchain.pem); "
        "--listen then redirects to it. Needs --tls-certificate-key.",
    ),
    tls_certificate_key: str | None = typer.Option(
        None, metavar="PATH", help="The certificate's private key (certbot's privkey.pem)."
    ),
    tls_listen: str = typer.Option("443", help="Where HTTPS is served: a port, or address:port."),
    acme_root: str = typer.Option(
        "/var/www/letsencrypt",
        metavar="DIR",
        help="With TLS: the webroot plain HTTP still serves /.well-known/acme-challenge/ "
        "from (certbot --webroot -w DIR).",
    ),
):
    """Print ops/nginx.conf filled in (DROP_ACCEL_REDIRECT must be set).

    With --tls-certificate and --tls-certificate-key, the site serves HTTPS
    (TLS 1.2 and 1.3, HTTP/2 when this machine's nginx has it, and
    Strict-Transport-Security); plain HTTP answers 301 to it, but for
    certbot's challenges under /.well-known/acme-challenge/.
    """
    from drop.ops.nginx_conf import (
        ACCESS_LOG,
        TlsSite,
        nginx_http2,
        nginx_values,
        render_nginx_conf,
    )

    if bool(tls_certificate) != bool(tls_certificate_key):
        needed = "--tls-certificate-key" if tls_certificate else "--tls-certificate"
        given = "--tls-certificate" if tls_certificate else "--tls-certificate-key"
        typer.echo(f"drop-ops: {needed} is needed with {given}", err=True)
        raise typer.Exit(2)
    tls = None
    if tls_certificate and tls_certificate_key:
        tls = TlsSite(
            certificate=os.path.abspath(tls_certificate),
            certificate_key=os.path.abspath(tls_certificate_key),
            listen=tls_listen,
            acme_root=acme_root,
            http2=nginx_http2(),
        )
    try:
        values = nginx_values(
            load_config(),
            listen=listen,
            server_name=server_name,
            upstream=upstream,
            access_log=access_log or ACCESS_LOG,
            max_upload_bytes=parse_size(max_upload_bytes) if max_upload_bytes else None,
            tls=tls,
        )
    except ValueError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(render_nginx_conf(values), nl=False)


def _run_together(main: list[str], companion: list[str] | None, env: dict) -> int:
    """Run `main` in the foreground and `companion` beside it; stop both when either ends.

    Alone, `main` takes this process's place: under systemd (Type=notify) gunicorn is then
    the unit's main process, and its signals (HUP to reload, TERM to stop) reach it directly.
    """
    if not companion:
        os.execve(main[0], main, env)
    helper = subprocess.Popen(companion, env=env)
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
