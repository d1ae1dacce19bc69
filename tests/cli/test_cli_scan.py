"""drop-ops scan: rescans with a real clamd, reports what it finds, and records the run."""

from __future__ import annotations

import json

import pytest

from drop.db.models import Drop, db, init_database
from drop.protection.audit import AuditEvent
from tests.support.clamd_server import MALWARE, MALWARE_SIGNATURE, UNOFFICIAL
from tests.support.ops import plant_drop, run_cli

# Harmless until a signature for it is added to clamd's database during the test.
LATE_FIND = b"a file nobody suspected until the signatures were updated\n"
LATE_SIGNATURE = "Drop.Test.Late"


@pytest.fixture
def store(config):
    init_database(config.effective_database_url)
    yield config
    if not db.is_closed():
        db.close()


def scan(config, clamd, *args):
    return run_cli(config, "scan", *args, DROP_CLAMD_SOCKET=clamd.socket_path)


def test_scan_help_explains_itself(store):
    result = run_cli(store, "scan", "--help")
    assert result.exit_code == 0, result.output
    for words in ("--all", "--json", "TOKEN", "infected", "DROP_CLAMD_SOCKET"):
        assert words in result.output


def test_scan_all_finds_a_file_whose_signature_was_added_later(store, own_clamd):
    late = plant_drop(store, LATE_FIND, filename="late.bin")
    fine = plant_drop(store, b"still fine\n", filename="fine.txt")
    gone = plant_drop(store, LATE_FIND, status="downloaded", filename="gone.bin")
    first = scan(store, own_clamd, "--all", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["infected"] == 0
    own_clamd.add_hash_signature(LATE_FIND, LATE_SIGNATURE, "late.hsb")
    own_clamd.reload(expect=LATE_FIND)
    result = scan(store, own_clamd, "--all", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["scanned"], report["clean"], report["infected"]) == (2, 1, 1)
    assert report["infected_drops"] == [
        {
            "token_prefix": late.token[:8],
            "filename": "late.bin",
            "result": "infected",
            "signature": LATE_SIGNATURE + UNOFFICIAL,
        }
    ]
    assert Drop.get_by_id(late.id).status == "infected"
    assert Drop.get_by_id(fine.id).scan_status == "clean"
    assert Drop.get_by_id(gone.id).status == "downloaded"  # not live: not rescanned
    assert (store.data_dir / "quarantine" / late.token).read_bytes() == LATE_FIND
    runs = list(AuditEvent.select().where(AuditEvent.action == "scan"))
    assert len(runs) == 2 and runs[-1].actor == "cli"
    hit = AuditEvent.get(AuditEvent.action == "malware_found")
    assert (hit.actor, hit.details["signature"]) == ("cli", LATE_SIGNATURE + UNOFFICIAL)


def test_scan_given_tokens_lists_the_infected_ones(store, clamd):
    bad = plant_drop(store, MALWARE, filename="bad.exe")
    good = plant_drop(store, b"good\n")
    result = scan(store, clamd, bad.token, good.token)
    assert result.exit_code == 0, result.output
    assert f"infected  {bad.token[:8]}  {MALWARE_SIGNATURE}{UNOFFICIAL}  bad.exe" in result.output
    assert "scanned 2 drops: 1 clean, 1 infected" in result.output
    assert bad.token not in result.output  # only its first characters


def test_scan_needs_tokens_or_all(store, clamd):
    assert scan(store, clamd).exit_code == 2
    assert scan(store, clamd, "--all", "a" * 32).exit_code == 2
    assert scan(store, clamd, "not-a-token").exit_code == 2


def test_scan_without_clamd_configured_or_reachable_fails(store, tmp_path):
    plant_drop(store)
    off = run_cli(store, "scan", "--all")
    assert off.exit_code == 1 and "DROP_CLAMD_SOCKET" in off.output
    down = run_cli(store, "scan", "--all", DROP_CLAMD_SOCKET=str(tmp_path / "none.sock"))
    assert down.exit_code == 1 and "clamd" in down.output


def test_check_reports_the_scanner(store, clamd, tmp_path):
    up = run_cli(store, "check", DROP_CLAMD_SOCKET=clamd.socket_path)
    assert "ok    scanner   clamd at" in up.output
    down = run_cli(store, "check", DROP_CLAMD_SOCKET=str(tmp_path / "none.sock"))
    assert down.exit_code == 1
    assert "FAIL  scanner" in down.output and "new uploads wait for it (hold)" in down.output
