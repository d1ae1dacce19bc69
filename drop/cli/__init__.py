"""drop-ops: the operator's command line."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import peewee
import typer

from drop.config import Config, ConfigError

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


def _add_subcommands() -> None:
    from drop.cli.block import block_cli

    cli.add_typer(block_cli, name="block")


_add_subcommands()


def load_config() -> Config:
    """The configuration from the environment, or exit 1 with a one-line message."""
    try:
        return Config.from_env()
    except ConfigError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def connected(config: Config):
    """Point the models at the configured database; a database error exits 1 with one line."""
    from drop.db.models import init_database
    from drop.ops.checks import first_line, redact_url

    database = init_database(config.effective_database_url)
    try:
        with database.connection_context():
            yield database
    except peewee.DatabaseError as error:
        where = redact_url(config.effective_database_url)
        typer.echo(f"drop-ops: database {where}: {first_line(error)}", err=True)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def installed():
    """Exit 1 with one line when this install of drop lacks a file it needs."""
    from drop.bundled import MissingResource
    from drop.db.migrations import NoMigrations

    try:
        yield
    except (MissingResource, NoMigrations) as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None


@cli.command()
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


DURATION = re.compile(r"(\d+)([smhdw]?)")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Fewer drops than this are purged too fast for a progress bar to be worth drawing.
PROGRESS_BAR_FROM = 100
LISTED = 20


def parse_duration(value: str | None) -> datetime.timedelta | None:
    """'90s', '30m', '12h', '7d', '2w' or plain seconds as a timedelta; else a usage error."""
    if value is None:
        return None
    match = DURATION.fullmatch(value.strip().lower())
    if not match:
        raise typer.BadParameter(f"{value!r} is not a duration like 30m, 12h, 7d or 2w")
    return datetime.timedelta(seconds=int(match[1]) * UNIT_SECONDS[match[2]])


@cli.command()
def purge(
    expired: bool = typer.Option(
        False,
        "--expired",
        help="Drops gone (downloaded, expired, deleted, revoked) or past their expiry "
        "for longer than --older-than. The default.",
    ),
    everything: bool = typer.Option(
        False, "--all", help="Every drop created longer than --older-than ago, live ones too."
    ),
    token: str | None = typer.Option(
        None, "--token", metavar="TOKEN", help="Just this drop, whatever its state."
    ),
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        metavar="DURATION",
        help="Retention period, e.g. 30m, 12h, 7d, 2w. Default: DROP_PURGE_RETENTION (7d).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    fix: bool = typer.Option(
        False,
        "--fix",
        help="Repair what reconciliation finds: delete orphan blobs and stale temp files, "
        "end live drops whose blob is missing.",
    ),
):
    """Remove old drops and their blobs, then reconcile storage with the database.

    Prints how many drops and bytes were freed, with a progress bar
    when there are many. Reconciliation reports blobs without a row,
    live drops without their blob, and stale temp files of abandoned
    uploads; --fix repairs them.
    """
    from drop import crypto
    from drop.drops import lifecycle as drops
    from drop.ops import purge as purging
    from drop.ops.stats import human_bytes
    from drop.protection import audit
    from drop.storage import open_storage

    if sum((expired, everything, token is not None)) > 1:
        raise typer.BadParameter("use only one of --expired, --all and --token")
    if token is not None and not crypto.is_token(token):
        raise typer.BadParameter("a token is 32 lowercase hex characters", param_hint="--token")
    retention = parse_duration(older_than)
    config = load_config()
    if retention is None:
        retention = datetime.timedelta(seconds=config.purge_retention)
    storage = open_storage(config)
    now = drops.utcnow()
    with connected(config):
        where = purging.purgeable(now, older_than=retention, everything=everything, token=token)
        doomed = purging.count_purgeable(where)
        if token is not None and not doomed.drops:
            typer.echo("drop-ops: no drop has that token", err=True)
            raise typer.Exit(1)
        stored = doomed.bytes_stored
        if dry_run:
            for drop in purging.first_purgeable(where, LISTED):
                typer.echo(
                    f"would purge {drop.token[:8]}  {drop.status:<10}  "
                    f"{human_bytes(drop.size):>10}  {drop.filename}"
                )
            if doomed.drops > LISTED:
                typer.echo(f"… and {doomed.drops - LISTED} more")
            typer.echo(
                f"dry run: would purge {doomed.drops} drops and free {stored} bytes "
                f"({human_bytes(stored)})"
            )
        elif doomed.drops:
            if not yes:
                typer.confirm(
                    f"Purge {doomed.drops} drops and {human_bytes(stored)} of blobs?", abort=True
                )
            if doomed.drops >= PROGRESS_BAR_FROM:
                with typer.progressbar(length=doomed.drops, label="purging") as bar:
                    result = purging.purge_drops(storage, where, bar.update)
            else:
                result = purging.purge_drops(storage, where)
            typer.echo(
                f"purged {result.drops} drops, freed {result.bytes_freed} bytes "
                f"({human_bytes(result.bytes_freed)})"
            )
        else:
            typer.echo("nothing to purge")
            result = purging.PurgeResult(0, 0)
        if not dry_run:
            purging.prune_download_events(now)
            audit.trim(now, datetime.timedelta(seconds=config.audit_retention))
        found = _reconcile(storage, now, fix=fix and not dry_run)
        if not dry_run:
            mode = "token" if token is not None else "all" if everything else "expired"
            detail = {
                "mode": mode,
                "older_than_seconds": int(retention.total_seconds()),
                "fix": fix,
                "drops": result.drops,
                "bytes_freed": result.bytes_freed,
                "orphan_blobs": len(found.orphan_blobs),
                "missing_blobs": len(found.missing_blobs),
                "stale_temps": len(found.stale_temps),
            }
            target = {"all": "all drops", "expired": "expired drops"}.get(mode)
            if token is not None:
                detail["token_prefix"] = audit.token_prefix(token)
                target = f"drop {audit.token_prefix(token)}"
            audit.record(audit.PURGE, actor=audit.CLI_ACTOR, at=now, target=target, detail=detail)


def _reconcile(storage, now: datetime.datetime, *, fix: bool):
    from drop.ops import purge as purging
    from drop.ops.stats import human_bytes

    found = purging.reconcile(storage, now)
    for blob in found.orphan_blobs:
        typer.echo(f"blob without a row: {blob.token} ({human_bytes(blob.size)})")
    for token in found.missing_blobs:
        typer.echo(f"live drop without its blob: {token[:8]}")
    for stale in found.stale_temps:
        typer.echo(f"stale upload: {stale}")
    summary = (
        f"storage: {len(found.orphan_blobs)} blobs without a row, "
        f"{len(found.missing_blobs)} live drops without their blob, "
        f"{len(found.stale_temps)} stale uploads"
    )
    if found.clean:
        typer.echo(f"{summary}: storage and database agree")
    elif fix:
        purging.repair(storage, found, now)
        typer.echo(f"{summary}: fixed")
    else:
        typer.echo(f"{summary}: run with --fix to repair")
    return found


@cli.command()
def stats(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, for scripts."),
):
    """Show what drop holds and how busy it is.

    Drops by status, bytes of live drops and of every blob stored
    (from the database: storage is never walked), uploads and
    downloads in the last hour, day and week, the largest and oldest
    live drops, the queue length and the worker's health.
    """
    from drop.drops import lifecycle as drops
    from drop.ops.stats import collect_stats, queue_length
    from drop.runtime.heartbeat import worker_health
    from drop.tasks import build_huey

    config = load_config()
    now = drops.utcnow()
    with connected(config):
        figures = collect_stats(
            now,
            queue_length=queue_length(build_huey(config)),
            worker=worker_health(config.data_dir, now, config.worker_stale_seconds),
        )
    if as_json:
        typer.echo(json.dumps(figures.as_json(), indent=2))
    else:
        typer.echo(_stats_table(figures))


def _stats_table(figures) -> str:
    from drop.ops.stats import WINDOWS, human_bytes

    def row(label: str, value) -> str:
        return f"{label:<22}{value}"

    lines = [row("drops", f"{figures.total_drops} in the database")]
    lines += [row(f"  {status}", count) for status, count in figures.by_status.items()]
    lines.append(
        row("bytes, live drops", f"{figures.bytes_live} ({human_bytes(figures.bytes_live)})")
    )
    lines.append(
        row("bytes, stored", f"{figures.bytes_stored} ({human_bytes(figures.bytes_stored)})")
    )
    windows = "".join(f"{name:>8}" for name in WINDOWS)
    lines.append(row("last", windows))
    for label, counts in (("  uploads", figures.uploads), ("  downloads", figures.downloads)):
        lines.append(row(label, "".join(f"{counts[name]:>8}" for name in WINDOWS)))
    queue = "unreachable" if figures.queue_length is None else figures.queue_length
    lines.append(row("queue length", queue))
    lines.append(row("worker", figures.worker.describe()))
    for title, summaries in (
        ("largest live", figures.largest_live),
        ("oldest live", figures.oldest_live),
    ):
        lines.append(title + ("" if summaries else ": none"))
        lines += [
            f"  {d.token_prefix}  {human_bytes(d.size):>10}  "
            f"created {d.created_at:%Y-%m-%d %H:%M}  {d.filename}"
            + (f"  (uploaded from {d.uploader})" if d.uploader else "")
            for d in summaries
        ]
    return "\n".join(lines)


@cli.command()
def audit(
    limit: int = typer.Option(
        50, "--limit", min=1, max=10_000, metavar="N", help="How many events, newest first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array, for scripts."),
):
    """Show the audit trail: what operators did, newest first.

    Each event has its time (UTC), the actor (a dashboard session's
    short id, `cli` for drop-ops, `anonymous` for a failed login), the
    client address, the action, what it acted on and its details.
    Events are kept for DROP_AUDIT_RETENTION.
    """
    from drop.protection import audit as trail

    config = load_config()
    with connected(config):
        events = trail.newest(limit)
    if as_json:
        typer.echo(json.dumps([event.as_json() for event in events], indent=2))
        return
    if not events:
        typer.echo("no audit events")
    for event in events:
        details = ", ".join(f"{key}={value}" for key, value in event.details.items())
        typer.echo(
            f"{event.occurred_at:%Y-%m-%d %H:%M:%S}  {event.actor:<9}  "
            f"{event.address or '-':<15}  {event.label:<17}  {event.target or '-'}"
            + (f"  ({details})" if details else "")
        )


@cli.command()
def scan(
    tokens: list[str] | None = typer.Argument(
        None, metavar="[TOKEN]...", help="Drops to rescan, by their whole token."
    ),
    everything: bool = typer.Option(False, "--all", help="Rescan every live drop."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, for scripts."),
):
    """Rescan drops with clamd now, and list the ones found infected.

    Give tokens, or --all for every live drop (read 100 at a time).
    A hit is handled as the worker's scan handles it: the drop becomes
    `infected` (its links answer 451) and its blob is quarantined. Use
    it after clamd's signatures were updated. Needs DROP_CLAMD_SOCKET
    or DROP_CLAMD_HOST; exits 1 if clamd cannot be reached.
    """
    from drop import crypto
    from drop.drops import lifecycle as drops
    from drop.protection import audit, scans
    from drop.protection.scanning import Clamd, ScannerUnavailable
    from drop.storage import open_storage

    if everything == bool(tokens):
        raise typer.BadParameter("give drop tokens or --all, one of them")
    for token in tokens or ():
        if not crypto.is_token(token):
            raise typer.BadParameter(f"{token[:40]!r} is not a token (32 lowercase hex characters)")
    config = load_config()
    clamd = Clamd.from_config(config)
    if clamd is None:
        typer.echo("drop-ops: scanning is off: set DROP_CLAMD_SOCKET or DROP_CLAMD_HOST", err=True)
        raise typer.Exit(1)
    scanner = scans.Scanner(
        open_storage(config),
        clamd,
        max_bytes=config.scan_max_bytes,
        quarantine=config.scan_quarantine,
        actor=audit.CLI_ACTOR,
    )
    counts = dict.fromkeys(("clean", "infected", "too_large", "gone"), 0)
    infected: list[scans.ScanOutcome] = []
    now = drops.utcnow()
    with connected(config):
        total = scans.count_live() if everything else len(tokens)
        try:
            clamd.ping()
            # --json prints nothing but its JSON: no progress bar then.
            progress = (
                contextlib.nullcontext(_NoProgress())
                if as_json
                else typer.progressbar(length=total, label="scanning")
            )
            with progress as bar:
                for token in scans.drops_to_rescan(None if everything else tokens):
                    outcome = scanner.scan(token, drops.utcnow())
                    counts[outcome.result] += 1
                    if outcome.result == "infected":
                        infected.append(outcome)
                    bar.update(1)
        except ScannerUnavailable as error:
            typer.echo(f"drop-ops: {error}", err=True)
            raise typer.Exit(1) from None
        finally:
            scanned = sum(counts.values())
            if scanned:
                audit.record(
                    audit.SCAN,
                    actor=audit.CLI_ACTOR,
                    at=now,
                    target="all live drops" if everything else f"{len(tokens)} drops",
                    detail={**counts, "infected_drops": [o.token[:8] for o in infected]},
                )
    if as_json:
        report = {"scanned": scanned, **counts, "infected_drops": [o.as_json() for o in infected]}
        typer.echo(json.dumps(report, indent=2))
        return
    for outcome in infected:
        prefix = audit.token_prefix(outcome.token)
        typer.echo(f"infected  {prefix}  {outcome.signature}  {outcome.filename}")
    typer.echo(
        f"scanned {scanned} drops: {counts['clean']} clean, {counts['infected']} infected, "
        f"{counts['too_large']} too large to scan, {counts['gone']} gone meanwhile"
    )


class _NoProgress:
    def update(self, steps: int) -> None:
        pass


@cli.command()
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


@cli.command()
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


@cli.command()
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


storage_cli = typer.Typer(help="Blob storage: move blobs between local disk and S3.")
cli.add_typer(storage_cli, name="storage")


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


@cli.command("nginx-conf")
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


token_cli = typer.Typer(
    help="Manage trusted uploaders' API tokens: create, list, revoke.\n\n"
    "A token is sent as `Authorization: Bearer <token>` with an upload and lifts the "
    "anonymous limits to its own.",
    no_args_is_help=True,
)
cli.add_typer(token_cli, name="token")

SIZE = re.compile(r"(\d+)\s*([kmgt]i?b?|b)?")
SIZE_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str) -> int:
    """'2GiB', '500MiB', '2GB' (decimal), '100k' or plain bytes as bytes; else a usage error."""
    match = SIZE.fullmatch(value.strip().lower())
    if not match:
        raise typer.BadParameter(f"{value!r} is not a size like 500MiB, 2GiB or 1048576")
    unit = match[2] or "b"
    decimal = unit.endswith("b") and not unit.endswith("ib") and unit != "b"
    base = 1000 ** "bkmgt".index(unit[0]) if decimal else SIZE_UNITS[unit[0]]
    return int(match[1]) * base


def _bounded(value: int, maximum: int, option: str, shown: str) -> int:
    if not 1 <= value <= maximum:
        raise typer.BadParameter(f"must be from 1 to {shown}", param_hint=option)
    return value


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
    from drop.drops import lifecycle as drops
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
                now=drops.utcnow(),
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
    from drop.drops import lifecycle as drops
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
        revoked = token_ops.revoke_token(token, now=drops.utcnow(), actor=audit.CLI_ACTOR)
    if revoked:
        typer.echo(f"revoked API token {token.name} (id {token.id})")
    else:
        typer.echo(f"API token {token.name} (id {token.id}) was already revoked")


def _token_limits(token, config: Config) -> str:
    from drop.ops.stats import human_bytes
    from drop.wording import duration

    size = token.max_upload_bytes or config.max_upload_bytes
    expiry = token.max_expires_in or config.max_expires_in
    hourly = (
        f"{token.uploads_per_hour} uploads an hour" if token.uploads_per_hour else "no hourly limit"
    )
    return (
        f"files up to {human_bytes(size)}{'' if token.max_upload_bytes else ' (default)'}, "
        f"expiry up to {duration(expiry)}{'' if token.max_expires_in else ' (default)'}, {hourly}"
    )


@cli.command()
def backup(
    dest: Path = typer.Argument(..., help="A new or empty directory to write the backup into."),
):
    """Back up the running service: database, local blobs and secret key.

    Safe while drop serves: the database is copied at one instant
    (SQLite's online backup, or pg_dump), then the blobs of the drops
    it holds. Unfinished resumable uploads are not included. With
    DROP_STORAGE=s3 the blobs stay in the bucket: back it up with the
    store's own tools. DEST holds every download token and the secret
    key: keep it private.
    """
    from drop.ops.backup import BackupError
    from drop.ops.backup import backup as make_backup

    try:
        make_backup(load_config(), dest, typer.echo)
    except BackupError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None


@cli.command()
def restore(
    source: Path = typer.Argument(..., help="A directory written by drop-ops backup."),
):
    """Restore a backup into an empty data directory and database.

    Never overwrites: DROP_DATA_DIR must be new or empty, and so must
    the database of DROP_DATABASE_URL (on PostgreSQL, create it first).
    Drops whose blob is not in the backup are revoked, and unfinished
    resumable uploads ended. Then run drop-ops migrate and start drop.
    """
    from drop.ops.backup import BackupError
    from drop.ops.backup import restore as put_back

    try:
        put_back(load_config(), source, typer.echo)
    except BackupError as error:
        typer.echo(f"drop-ops: {error}", err=True)
        raise typer.Exit(1) from None


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


def main():
    cli()


if __name__ == "__main__":
    main()
