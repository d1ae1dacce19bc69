"""drop-ops block add|list|remove: blocks from the command line, recorded in the audit trail."""

from __future__ import annotations

import json

import pytest

from drop.db.models import LIVE, REVOKED, Drop, db, init_database
from drop.protection import audit, blocks
from drop.protection.audit import AuditEvent
from tests.support.ops import blob_exists, plant_drop, run_cli

SHA = "ab" * 32


@pytest.fixture
def store(config):
    init_database(config.effective_database_url)
    yield config
    if not db.is_closed():
        db.close()


@pytest.mark.parametrize(
    "args", [["block"], ["block", "add"], ["block", "list"], ["block", "remove"]]
)
def test_every_block_command_has_help(config, args):
    result = run_cli(config, *args, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_add_list_and_remove_an_address_block(store):
    result = run_cli(store, "block", "add", "--address", "192.0.2.9/24", "--reason", "spam")
    assert result.exit_code == 0, result.output
    assert "blocked address 192.0.2.0/24" in result.output
    assert blocks.address_block("192.0.2.200") is not None

    listed = json.loads(run_cli(store, "block", "list", "--json").output)
    assert [(b["kind"], b["value"], b["reason"], b["created_by"]) for b in listed] == [
        ("address", "192.0.2.0/24", "spam", "cli")
    ]
    assert listed[0]["created_at"].endswith("Z")
    assert "192.0.2.0/24" in run_cli(store, "block", "list").output

    result = run_cli(store, "block", "remove", str(listed[0]["id"]))
    assert result.exit_code == 0, result.output
    assert blocks.address_block("192.0.2.200") is None
    assert [
        (e.action, e.actor, e.address) for e in AuditEvent.select().order_by(AuditEvent.id)
    ] == [
        (audit.BLOCK, "cli", None),
        (audit.UNBLOCK, "cli", None),
    ]


def test_add_and_remove_a_content_block_by_its_sha256(store):
    result = run_cli(store, "block", "add", "--sha256", SHA.upper(), "--reason", "court order")
    assert result.exit_code == 0, result.output
    assert blocks.content_block(SHA) is not None
    assert run_cli(store, "block", "remove", "--sha256", SHA).exit_code == 0
    assert blocks.content_block(SHA) is None


def test_adding_a_block_twice_keeps_the_first(store):
    run_cli(store, "block", "add", "--address", "2001:db8::/32", "--reason", "first")
    result = run_cli(store, "block", "add", "--address", "2001:db8::1/32", "--reason", "second")
    assert result.exit_code == 0 and "already blocked" in result.output
    [block] = blocks.list_blocks()
    assert block.reason == "first"


def test_revoke_drops_revokes_the_addresses_live_drops(store):
    theirs = plant_drop(store, b"spam")
    Drop.update(uploader_address="198.51.100.4").where(Drop.id == theirs.id).execute()
    others = plant_drop(store, b"fine")
    Drop.update(uploader_address="198.51.100.40").where(Drop.id == others.id).execute()
    result = run_cli(
        store, "block", "add", "--address", "198.51.100.4", "--reason", "spam", "--revoke-drops"
    )
    assert result.exit_code == 0, result.output
    assert "revoked 1 live drops" in result.output
    assert Drop.get_by_id(theirs.id).status == REVOKED and not blob_exists(store, theirs.token)
    assert Drop.get_by_id(others.id).status == LIVE
    [event] = AuditEvent.select()
    assert event.details["revoked_drops"] == 1


def test_list_of_no_blocks(store):
    assert run_cli(store, "block", "list").output == "no blocks\n"
    assert json.loads(run_cli(store, "block", "list", "--json").output) == []


@pytest.mark.parametrize(
    "args",
    [
        ["add", "--reason", "x"],
        ["add", "--address", "1.2.3.4", "--sha256", SHA, "--reason", "x"],
        ["add", "--address", "example.org", "--reason", "x"],
        ["add", "--sha256", "abc", "--reason", "x"],
        ["add", "--address", "1.2.3.4"],
        ["add", "--address", "1.2.3.4", "--reason", "   "],
        ["add", "--sha256", SHA, "--reason", "x", "--revoke-drops"],
        ["remove"],
    ],
)
def test_bad_arguments_are_usage_errors_and_change_nothing(store, args):
    result = run_cli(store, "block", *args)
    assert result.exit_code == 2, result.output
    assert blocks.list_blocks() == []
    assert AuditEvent.select().count() == 0


def test_removing_a_block_that_is_not_there_fails(store):
    result = run_cli(store, "block", "remove", "99")
    assert result.exit_code == 1 and "no such block" in result.output
    assert AuditEvent.select().count() == 0
