"""drop-ops audit, the purge's own events, and trimming the trail after DROP_AUDIT_RETENTION."""

from __future__ import annotations

import datetime
import json
import logging

import pytest

from drop import tasks
from drop.config import Config, ConfigError
from drop.db.models import EXPIRED, Drop, db, init_database
from drop.protection import audit
from drop.protection.audit import AuditEvent
from tests.support.ops import DAY, now, plant_drop, refuse_audit_inserts, run_cli

RETENTION = datetime.timedelta(days=90)


@pytest.fixture
def store(config):
    """The models pointed at the test store, so a test can plant rows before running drop-ops."""
    init_database(config.effective_database_url)
    yield config
    if not db.is_closed():
        db.close()


def plant_event(at: datetime.datetime, target: str, action: str = audit.LOGIN) -> None:
    assert audit.record(action, actor="0badcafe", at=at, address="192.0.2.1", target=target)


def targets() -> list[str]:
    return sorted(event.target for event in AuditEvent.select())


def test_audit_json_lists_the_newest_events_first(store):
    for minutes in (30, 10, 20):
        plant_event(now() - datetime.timedelta(minutes=minutes), f"{minutes} minutes ago")
    result = run_cli(store, "audit", "--json", "--limit", "2")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [event["target"] for event in listed] == ["10 minutes ago", "20 minutes ago"]
    assert set(listed[0]) == {
        "id",
        "occurred_at",
        "actor",
        "address",
        "action",
        "target",
        "detail",
    }
    assert (listed[0]["actor"], listed[0]["address"], listed[0]["action"]) == (
        "0badcafe",
        "192.0.2.1",
        "login",
    )
    assert listed[0]["occurred_at"].endswith("Z")


def test_audit_prints_one_readable_line_per_event(store):
    plant_event(now(), "drop 7 abcdef12", action=audit.REVOKE)
    result = run_cli(store, "audit")
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    assert "0badcafe" in line and "192.0.2.1" in line and "revoked" in line
    assert "drop 7 abcdef12" in line


def test_audit_of_an_empty_trail_says_so(store):
    result = run_cli(store, "audit")
    assert result.exit_code == 0, result.output
    assert result.output == "no audit events\n"
    assert json.loads(run_cli(store, "audit", "--json").output) == []


@pytest.mark.parametrize("limit", ["0", "10001", "many"])
def test_audit_limit_out_of_range_is_a_usage_error(config, limit):
    assert run_cli(config, "audit", "--limit", limit).exit_code == 2


def test_a_purge_is_recorded_with_its_options_and_counts(store):
    plant_drop(store, b"x" * 10, status=EXPIRED, age=20 * DAY, gone_ago=8 * DAY)
    result = run_cli(store, "purge", "--yes", "--older-than", "7d")
    assert result.exit_code == 0, result.output
    [event] = AuditEvent.select()
    assert (event.action, event.actor, event.address) == (audit.PURGE, "cli", None)
    assert event.target == "expired drops"
    assert event.details == {
        "mode": "expired",
        "older_than_seconds": 7 * 86400,
        "fix": False,
        "drops": 1,
        "bytes_freed": 10,
        "orphan_blobs": 0,
        "missing_blobs": 0,
        "stale_temps": 0,
    }
    listed = json.loads(run_cli(store, "audit", "--json").output)
    assert listed[0]["detail"]["drops"] == 1


def test_a_purge_of_one_token_records_only_its_prefix(store):
    drop = plant_drop(store, b"y")
    result = run_cli(store, "purge", "--yes", "--token", drop.token, "--fix")
    assert result.exit_code == 0, result.output
    [event] = AuditEvent.select()
    assert event.target == f"drop {drop.token[:8]}"
    assert event.details["mode"] == "token" and event.details["fix"] is True
    assert event.details["token_prefix"] == drop.token[:8]
    assert drop.token not in event.target + event.detail


def test_a_purge_with_nothing_to_do_is_still_recorded(store):
    assert run_cli(store, "purge", "--all", "--yes").exit_code == 0
    [event] = AuditEvent.select()
    assert event.target == "all drops"
    assert (event.details["mode"], event.details["drops"]) == ("all", 0)


def test_a_dry_run_and_a_refused_purge_record_nothing(store):
    plant_drop(store, status=EXPIRED, age=20 * DAY, gone_ago=8 * DAY)
    assert run_cli(store, "purge", "--dry-run").exit_code == 0
    assert run_cli(store, "purge", input="n\n").exit_code == 1
    assert AuditEvent.select().count() == 0
    assert Drop.select().count() == 1


def test_a_failing_record_leaves_the_purge_as_it_was(store, caplog):
    plant_drop(store, b"x", status=EXPIRED, age=20 * DAY, gone_ago=8 * DAY)
    refuse_audit_inserts(db.obj)
    db.close()
    caplog.set_level(logging.WARNING, logger="drop.protection.audit")
    result = run_cli(store, "purge", "--yes")
    assert result.exit_code == 0, result.output
    assert "purged 1 drops" in result.output
    assert Drop.select().count() == 0
    assert AuditEvent.select().count() == 0
    [warning] = [r for r in caplog.records if r.name == "drop.protection.audit"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == "audit trail: could not record purge: audit inserts refused"


def test_trim_removes_only_events_older_than_the_retention(store):
    moment = now()
    plant_event(moment - RETENTION - datetime.timedelta(seconds=1), "just past")
    plant_event(moment - RETENTION - 30 * DAY, "long past")
    plant_event(moment - RETENTION + datetime.timedelta(seconds=1), "just within")
    plant_event(moment, "new")
    assert audit.trim(moment, RETENTION) == 2
    assert targets() == ["just within", "new"]


def test_trim_works_in_batches_and_stops_after_the_last_one_it_may_take(store):
    moment = now()
    for number in range(7):
        plant_event(moment - RETENTION - datetime.timedelta(hours=number + 1), f"old {number}")
    plant_event(moment, "new")
    assert audit.trim(moment, RETENTION, batch_size=2, max_batches=2) == 4
    # The oldest go first.
    assert targets() == ["new", "old 0", "old 1", "old 2"]
    assert audit.trim(moment, RETENTION, batch_size=2) == 3
    assert targets() == ["new"]


def test_the_worker_trims_the_trail_after_the_default_retention(store):
    plant_event(now() - RETENTION - DAY, "old")
    plant_event(now() - RETENTION + DAY, "kept")
    assert tasks.trim_audit_trail.call_local() == 1
    assert targets() == ["kept"]


def test_drop_ops_purge_trims_the_trail_after_drop_audit_retention(store):
    plant_event(now() - datetime.timedelta(hours=2), "old")
    plant_event(now() - datetime.timedelta(minutes=30), "kept")
    result = run_cli(store, "purge", "--yes", DROP_AUDIT_RETENTION="3600")
    assert result.exit_code == 0, result.output
    assert targets() == ["expired drops", "kept"]


def test_audit_retention_defaults_to_90_days_and_must_be_positive():
    assert Config.from_env({}).audit_retention == 90 * 86400
    assert Config.from_env({"DROP_AUDIT_RETENTION": "3600"}).audit_retention == 3600
    with pytest.raises(ConfigError, match="DROP_AUDIT_RETENTION"):
        Config.from_env({"DROP_AUDIT_RETENTION": "0"})
