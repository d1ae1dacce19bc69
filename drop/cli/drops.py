"""Looking after what is stored: `purge`, `stats`, `audit` and `scan`."""

from __future__ import annotations

import contextlib
import datetime
import json

import typer

from drop.cli.common import (
    LISTED,
    PROGRESS_BAR_FROM,
    NoProgress,
    connected,
    load_config,
    parse_duration,
)
from drop.clock import utcnow


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
    from drop.ops import purge as purging
    from drop.protection import audit
    from drop.storage import open_storage
    from drop.wording import human_bytes

    if sum((expired, everything, token is not None)) > 1:
        raise typer.BadParameter("use only one of --expired, --all and --token")
    if token is not None and not crypto.is_token(token):
        raise typer.BadParameter("a token is 32 lowercase hex characters", param_hint="--token")
    retention = parse_duration(older_than)
    config = load_config()
    if retention is None:
        retention = datetime.timedelta(seconds=config.purge_retention)
    storage = open_storage(config)
    now = utcnow()
    with connected(config):
        where = purging.purgeable(now, older_than=retention, everything=everything, token=token)
        doomed = purging.count_purgeable(where)
        if token is not None and not doomed.drops:
            typer.echo("drop-ops: no drop has that token", err=True)
            raise typer.Exit(1)
        stored = doomed.bytes_stored
        if dry_run:
            _show_dry_run(where, doomed)
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
            purging.record_purge(
                mode, retention, result, found, fix=fix, token=token, now=now, actor=audit.CLI_ACTOR
            )


def _show_dry_run(where, doomed) -> None:
    """What a purge would remove: the first LISTED drops, and the totals."""
    from drop.ops import purge as purging
    from drop.wording import human_bytes

    for drop in purging.first_purgeable(where, LISTED):
        typer.echo(
            f"would purge {drop.token[:8]}  {drop.status:<10}  "
            f"{human_bytes(drop.size):>10}  {drop.filename}"
        )
    if doomed.drops > LISTED:
        typer.echo(f"… and {doomed.drops - LISTED} more")
    stored = doomed.bytes_stored
    typer.echo(
        f"dry run: would purge {doomed.drops} drops and free {stored} bytes ({human_bytes(stored)})"
    )


def _reconcile(storage, now: datetime.datetime, *, fix: bool):
    from drop.ops import purge as purging
    from drop.wording import human_bytes

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


def stats(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, for scripts."),
):
    """Show what drop holds and how busy it is.

    Drops by status, bytes of live drops and of every blob stored
    (from the database: storage is never walked), uploads and
    downloads in the last hour, day and week, the largest and oldest
    live drops, the queue length and the worker's health.
    """
    from drop.ops.stats import collect_stats, queue_length
    from drop.runtime.heartbeat import worker_health
    from drop.tasks import build_huey

    config = load_config()
    now = utcnow()
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
    from drop.ops.stats import WINDOWS
    from drop.wording import human_bytes

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
    now = utcnow()
    with connected(config):
        total = scans.count_live() if everything else len(tokens)
        try:
            clamd.ping()
            # --json prints nothing but its JSON: no progress bar then.
            progress = (
                contextlib.nullcontext(NoProgress())
                if as_json
                else typer.progressbar(length=total, label="scanning")
            )
            with progress as bar:
                for token in scans.drops_to_rescan(None if everything else tokens):
                    outcome = scanner.scan(token, utcnow())
                    counts[outcome.result] += 1
                    if outcome.result == "infected":
                        infected.append(outcome)
                    bar.update(1)
        except ScannerUnavailable as error:
            typer.echo(f"drop-ops: {error}", err=True)
            raise typer.Exit(1) from None
        finally:
            scanned = sum(counts.values())
            target = "all live drops" if everything else f"{len(tokens)} drops"
            scans.record_scans(counts, infected, target=target, now=now, actor=audit.CLI_ACTOR)
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
