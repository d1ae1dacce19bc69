"""drop-ops migrate, stats and purge, through CliRunner, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from drop.clock import utcnow
from drop.db import migrations
from drop.db.models import DOWNLOADED, EXPIRED, LIVE, REVOKED, Drop, db, init_database
from drop.drops import lifecycle as drops
from drop.storage.local import LocalStorage
from tests.conftest import reset_postgres
from tests.support.ops import (
    DAY,
    blob_exists,
    plant_drop,
    plant_orphan_blob,
    run_cli,
)


@pytest.fixture
def store(config):
    """The models pointed at the test store, so a test can plant rows before running drop-ops."""
    init_database(config.effective_database_url)
    yield config
    if not db.is_closed():
        db.close()


def test_migrate_twice_is_harmless(config):
    if config.database_url:
        reset_postgres(config.database_url)
    else:
        (config.data_dir / "drop.sqlite3").unlink()
    first = run_cli(config, "migrate")
    assert first.exit_code == 0, first.output
    assert (
        "applied 0001_create_drop, 0002_create_download_event, 0003_create_rate_counter"
        in first.output
    )
    second = run_cli(config, "migrate")
    assert second.exit_code == 0, second.output
    assert "database is up to date" in second.output
    status = run_cli(config, "migrate", "--status")
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert [line.split()[0] for line in lines] == [path.stem for path in migrations.available()]
    assert [line.split()[0] for line in lines][:2] == [
        "0001_create_drop",
        "0002_create_download_event",
    ]
    assert all(" applied " in line for line in lines)


def test_migrate_status_lists_pending_migrations(config):
    if config.database_url:
        reset_postgres(config.database_url)
    else:
        (config.data_dir / "drop.sqlite3").unlink()
    result = run_cli(config, "migrate", "--status")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{path.stem}  pending" for path in migrations.available()
    ]
    assert result.output.startswith(
        "0001_create_drop  pending\n0002_create_download_event  pending"
    )


def test_stats_on_an_empty_store(store):
    result = run_cli(store, "stats", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["by_status"] == dict.fromkeys(
        ["live", "downloaded", "expired", "deleted", "revoked", "infected"], 0
    )
    assert figures["bytes_live"] == figures["bytes_stored"] == 0
    assert figures["uploads"] == figures["downloads"] == {"hour": 0, "day": 0, "week": 0}
    assert figures["largest_live"] == figures["oldest_live"] == []
    assert figures["queue_length"] == 0
    assert figures["worker"]["alive"] is False


def test_stats_on_a_filled_store(store):
    small = plant_drop(store, b"12345", age=datetime.timedelta(minutes=10), filename="small")
    big = plant_drop(store, b"x" * 100, age=datetime.timedelta(hours=5), filename="big")
    plant_drop(store, None, status=EXPIRED, age=3 * DAY, gone_ago=DAY)
    plant_drop(store, None, status=DOWNLOADED, age=30 * DAY, gone_ago=29 * DAY)
    # Two downloads now, counted by the same code the download path uses.
    two = plant_drop(store, b"ab", age=datetime.timedelta(minutes=1), max_downloads=5)
    assert drops.claim_download(two.token, utcnow())
    assert drops.claim_download(two.token, utcnow())

    result = run_cli(store, "stats", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["by_status"]["live"] == 3
    assert figures["by_status"]["expired"] == 1
    assert figures["by_status"]["downloaded"] == 1
    assert figures["bytes_live"] == 107
    assert figures["bytes_stored"] == 107
    assert figures["uploads"] == {"hour": 2, "day": 3, "week": 4}
    assert figures["downloads"] == {"hour": 2, "day": 2, "week": 2}
    assert [d["filename"] for d in figures["largest_live"]] == ["big", "small", "planted.txt"]
    assert figures["largest_live"][0]["token_prefix"] == big.token[:8]
    assert [d["token_prefix"] for d in figures["oldest_live"]] == [
        big.token[:8],
        small.token[:8],
        two.token[:8],
    ]


def test_stats_table_is_readable(store):
    plant_drop(store, b"x" * 2048, filename="report.pdf")
    result = run_cli(store, "stats")
    assert result.exit_code == 0, result.output
    assert "  live                1" in result.output
    assert "bytes, stored         2048 (2.0 KiB)" in result.output
    assert "report.pdf" in result.output


def test_stats_lists_the_uploader_while_it_is_kept(store):
    known = plant_drop(store, b"x" * 2048, filename="report.pdf")
    plant_drop(store, b"x", filename="forgotten.txt")
    Drop.update(uploader_address="203.0.113.7", uploader_agent="curl/8.5.0").where(
        Drop.id == known.id
    ).execute()
    table = run_cli(store, "stats")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    report_line = next(line for line in lines if "report.pdf" in line)
    assert report_line.endswith("report.pdf  (uploaded from 203.0.113.7, curl/8.5.0)")
    assert next(line for line in lines if "forgotten.txt" in line).endswith("forgotten.txt")
    figures = json.loads(run_cli(store, "stats", "--json").output)
    by_name = {d["filename"]: d for d in figures["largest_live"]}
    assert by_name["report.pdf"]["uploader_address"] == "203.0.113.7"
    assert by_name["report.pdf"]["uploader_agent"] == "curl/8.5.0"
    assert by_name["forgotten.txt"]["uploader_address"] is None


def test_stats_come_from_the_database_and_never_walk_storage(store, monkeypatch):
    def walked(*args):
        raise AssertionError("stats walked storage")

    monkeypatch.setattr(LocalStorage, "blob_tokens", walked)
    monkeypatch.setattr(LocalStorage, "stale_uploads", walked)
    plant_drop(store, b"12345")
    # Gone, its blob not yet deleted by the sweep: still stored.
    plant_drop(store, b"abc", status=EXPIRED, gone_ago=datetime.timedelta(minutes=1))
    plant_orphan_blob(store, b"1234567")  # reconciliation's to find, not the stats'
    result = run_cli(store, "stats", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert (figures["bytes_live"], figures["bytes_stored"]) == (5, 8)


def purge_scene(config) -> dict[str, Drop]:
    """One drop of each kind a purge must tell apart (default retention: 7 days)."""
    return {
        # Swept long ago, blob still there (the sweep has been off).
        "expired": plant_drop(config, b"e" * 10, status=EXPIRED, age=20 * DAY, gone_ago=8 * DAY),
        # Past its expiry for longer than the retention, never swept.
        "overdue": plant_drop(config, b"o" * 7, age=20 * DAY, lifetime=DAY),
        # Gone long ago, blob already deleted by the worker.
        "downloaded": plant_drop(config, None, status=DOWNLOADED, age=9 * DAY, gone_ago=9 * DAY),
        # Gone, but recently: its row is kept so it still answers 410.
        "recent": plant_drop(config, b"r", status=EXPIRED, age=2 * DAY, gone_ago=DAY),
        "live": plant_drop(config, b"l" * 3),
    }


def remaining(scene) -> set[str]:
    left = {row.token for row in Drop.select(Drop.token)}
    return {name for name, drop in scene.items() if drop.token in left}


def test_purge_dry_run_changes_nothing(store):
    scene = purge_scene(store)
    result = run_cli(store, "purge", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: would purge 3 drops and free 17 bytes" in result.output
    assert f"would purge {scene['expired'].token[:8]}" in result.output
    assert remaining(scene) == set(scene)
    assert all(blob_exists(store, scene[name].token) for name in ("expired", "overdue", "live"))


def test_purge_frees_exactly_the_expired_drops_and_their_bytes(store):
    scene = purge_scene(store)
    result = run_cli(store, "purge", "--yes")
    assert result.exit_code == 0, result.output
    assert "purged 3 drops, freed 17 bytes" in result.output
    assert remaining(scene) == {"recent", "live"}
    assert not blob_exists(store, scene["expired"].token)
    assert not blob_exists(store, scene["overdue"].token)
    assert blob_exists(store, scene["recent"].token)
    assert blob_exists(store, scene["live"].token)


def test_purge_older_than_shortens_the_retention(store):
    scene = purge_scene(store)
    result = run_cli(store, "purge", "--older-than", "12h", "--yes")
    assert result.exit_code == 0, result.output
    assert "purged 4 drops, freed 18 bytes" in result.output
    assert remaining(scene) == {"live"}


def test_purge_token_removes_one_live_drop(store):
    scene = purge_scene(store)
    result = run_cli(store, "purge", "--token", scene["live"].token, "--yes")
    assert result.exit_code == 0, result.output
    assert "purged 1 drops, freed 3 bytes" in result.output
    assert remaining(scene) == set(scene) - {"live"}


def test_purge_all_removes_live_drops_too(store):
    scene = purge_scene(store)
    result = run_cli(store, "purge", "--all", "--older-than", "0s", "--yes")
    assert result.exit_code == 0, result.output
    assert remaining(scene) == set()


def test_purge_asks_first_and_a_no_keeps_everything(store):
    scene = purge_scene(store)
    result = run_cli(store, "purge", input="n\n")
    assert result.exit_code == 1, result.output
    assert "Purge 3 drops" in result.output
    assert remaining(scene) == set(scene)


def test_purge_forgets_downloads_older_than_a_week(store):
    from drop.db.models import DownloadEvent

    DownloadEvent.create(downloaded_at=utcnow() - 8 * DAY)
    DownloadEvent.create(downloaded_at=utcnow() - DAY)
    result = run_cli(store, "purge", "--yes")
    assert result.exit_code == 0, result.output
    assert DownloadEvent.select().count() == 1


def test_reconciliation_reports_without_fix_and_repairs_with_it(store):
    orphan = plant_orphan_blob(store, b"nobody owns me")
    lost = plant_drop(store, None, filename="lost.bin")
    young_orphan = plant_orphan_blob(store, b"in flight", age_seconds=0)
    stale = store.data_dir / "tmp" / "abandoned.part"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"half an upload")
    os.utime(stale, (0, 0))

    report = run_cli(store, "purge", "--yes")
    assert report.exit_code == 0, report.output
    assert f"blob without a row: {orphan}" in report.output
    assert f"live drop without its blob: {lost.token[:8]}" in report.output
    assert f"stale upload: {stale}" in report.output
    assert "run with --fix to repair" in report.output
    assert blob_exists(store, orphan) and stale.exists()
    assert Drop.get_by_id(lost.id).status == LIVE

    fixed = run_cli(store, "purge", "--yes", "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "fixed" in fixed.output
    assert not blob_exists(store, orphan)
    assert not stale.exists()
    assert Drop.get_by_id(lost.id).status == REVOKED
    assert blob_exists(store, young_orphan)  # may be an upload about to commit its row

    again = run_cli(store, "purge", "--yes")
    assert "storage and database agree" in again.output, again.output


def test_dry_run_with_fix_repairs_nothing(store):
    orphan = plant_orphan_blob(store)
    result = run_cli(store, "purge", "--dry-run", "--fix")
    assert result.exit_code == 0, result.output
    assert blob_exists(store, orphan)


@pytest.mark.parametrize(
    "args",
    [
        ["--all", "--token", "0" * 32],
        ["--expired", "--all"],
        ["--older-than", "a week"],
        ["--token", "not-a-token"],
        ["--no-such-option"],
    ],
)
def test_purge_usage_errors_exit_2(config, args):
    result = run_cli(config, "purge", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_purge_of_an_unknown_token_fails_with_one_line(store):
    result = run_cli(store, "purge", "--token", "0" * 32, "--yes")
    assert result.exit_code == 1, result.output
    assert result.output == "drop-ops: no drop has that token\n"


@pytest.mark.parametrize("command", [["stats"], ["purge", "--dry-run"], ["migrate"]])
def test_unreachable_database_is_one_line_and_exit_1(tmp_path, command):
    from drop.config import Config

    config = Config(data_dir=tmp_path, database_url="postgresql://drop:hunter2@127.0.0.1:1/drop")
    result = run_cli(config, *command)
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("drop-ops: database postgresql://drop:***@127.0.0.1:1/drop")
    assert "hunter2" not in result.output


def test_unmigrated_database_is_one_line_and_exit_1(tmp_path):
    from drop.config import Config

    result = run_cli(Config(data_dir=tmp_path), "stats")
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "no such table" in result.output


def test_bad_configuration_is_one_line_and_exit_1(config):
    result = run_cli(config, "stats", DROP_MAX_DOWNLOADS="many")
    assert result.exit_code == 1, result.output
    assert result.output == "drop-ops: DROP_MAX_DOWNLOADS must be a whole number, got 'many'\n"


def test_every_command_documents_itself():
    from typer.testing import CliRunner

    from drop.cli import cli

    for command in cli.registered_commands:
        name = command.name or command.callback.__name__
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert f" {name} [OPTIONS]" in result.output
        assert command.callback.__doc__.splitlines()[0] in result.output


def test_purging_many_drops_draws_a_progress_bar(store):
    for _ in range(120):
        plant_drop(store, b"z", status=EXPIRED, age=20 * DAY, gone_ago=8 * DAY)
    result = run_cli(store, "purge", "--yes")
    assert result.exit_code == 0, result.output
    assert "purging" in result.output
    assert "purged 120 drops, freed 120 bytes" in result.output
    assert Drop.select().count() == 0
