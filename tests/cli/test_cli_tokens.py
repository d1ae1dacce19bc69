"""drop-ops token create, list and revoke (typer's CliRunner), and their audit events."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from drop.cli import cli
from drop.cli.common import parse_size
from drop.db.models import db, init_database
from drop.protection import api_tokens, audit
from drop.protection.api_tokens import ApiToken
from drop.protection.audit import AuditEvent
from tests.support.ops import run_cli

SECRET_LINE = api_tokens.SECRET_SHAPE


@pytest.fixture
def store(config):
    init_database(config.effective_database_url)
    yield config
    if not db.is_closed():
        db.close()


def create(config, *args: str) -> str:
    """`drop-ops token create` with `args`; returns the secret it printed."""
    result = run_cli(config, "token", "create", *args)
    assert result.exit_code == 0, result.output
    secrets = [line for line in result.output.splitlines() if SECRET_LINE.fullmatch(line)]
    assert len(secrets) == 1, result.output
    return secrets[0]


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (("token",), "Manage trusted uploaders' API tokens"),
        (("token", "create"), "print its secret, this once"),
        (("token", "list"), "List API tokens"),
        (("token", "revoke"), "its next upload, on every web server, gets 401"),
    ],
)
def test_every_token_command_explains_itself(command, says):
    result = CliRunner().invoke(cli, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert says in result.output


@pytest.mark.parametrize("backend", ["sqlite"])
def test_create_prints_a_recognisable_secret_once_and_stores_its_limits(store):
    result = run_cli(
        store,
        "token",
        "create",
        "--name",
        "ci",
        "--max-upload-bytes",
        "2GiB",
        "--max-expires-in",
        "30d",
        "--uploads-per-hour",
        "500",
    )
    assert result.exit_code == 0, result.output
    secret = next(line for line in result.output.splitlines() if SECRET_LINE.fullmatch(line))
    assert result.output.count(secret) == 1
    assert "shown this once" in result.output
    assert "files up to 2.0 GiB, expiry up to 30 days, 500 uploads an hour" in result.output
    token = ApiToken.get(ApiToken.name == "ci")
    assert (token.max_upload_bytes, token.max_expires_in) == (2 * 1024**3, 30 * 86400)
    assert token.uploads_per_hour == 500
    assert api_tokens.find_live(secret).id == token.id
    # 40 characters from 62: 238 random bits, more than the 128 the brief asks.
    assert len(secret) == len("drop_") + 40


def test_create_json_gives_the_secret_and_the_token_for_scripts(store):
    result = run_cli(store, "token", "create", "--name", "deploy", "--json")
    assert result.exit_code == 0, result.output
    made = json.loads(result.output)
    assert SECRET_LINE.fullmatch(made["secret"])
    assert made["token"]["name"] == "deploy"
    assert made["token"]["max_upload_bytes"] is None  # the instance's own
    assert made["secret"].startswith(made["token"]["prefix"])


def test_list_json_shows_every_token_without_its_secret(store):
    ci = create(store, "--name", "ci", "--max-upload-bytes", "500MiB")
    sharex = create(store, "--name", "sharex")
    assert run_cli(store, "token", "revoke", "sharex").exit_code == 0
    result = run_cli(store, "token", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(entry["name"], entry["revoked_at"] is None) for entry in listed] == [
        ("ci", True),
        ("sharex", False),
    ]
    assert set(listed[0]) == {
        "id",
        "name",
        "prefix",
        "max_upload_bytes",
        "max_expires_in",
        "uploads_per_hour",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    assert listed[0]["max_upload_bytes"] == 500 * 1024**2
    assert ci not in result.output and sharex not in result.output
    text = run_cli(store, "token", "list")
    assert text.exit_code == 0, text.output
    assert "ci" in text.output and "revoked" in text.output and "last used never" in text.output
    assert ci not in text.output


def test_revoke_by_name_or_id_ends_the_token_and_names_a_second_revoke(store):
    secret = create(store, "--name", "ci")
    token_id = ApiToken.get(ApiToken.name == "ci").id
    revoked = run_cli(store, "token", "revoke", "ci")
    assert revoked.exit_code == 0, revoked.output
    assert api_tokens.find_live(secret) is None
    again = run_cli(store, "token", "revoke", str(token_id))
    assert again.exit_code == 0 and "already revoked" in again.output
    unknown = run_cli(store, "token", "revoke", "nobody")
    assert unknown.exit_code == 1 and "no live API token" in unknown.output


def test_a_name_can_be_issued_again_once_its_token_is_revoked(store):
    create(store, "--name", "ci")
    taken = run_cli(store, "token", "create", "--name", "ci")
    assert taken.exit_code == 1 and "revoke it first" in taken.output
    assert run_cli(store, "token", "revoke", "ci").exit_code == 0
    create(store, "--name", "ci")
    assert ApiToken.select().where(ApiToken.name == "ci").count() == 2


def test_create_and_revoke_are_in_the_audit_trail_without_the_secret(store):
    secret = create(store, "--name", "ci", "--max-upload-bytes", "2GiB")
    assert run_cli(store, "token", "revoke", "ci").exit_code == 0
    events = list(AuditEvent.select().order_by(AuditEvent.id))
    assert [(event.action, event.actor) for event in events] == [
        (audit.TOKEN_CREATE, audit.CLI_ACTOR),
        (audit.TOKEN_REVOKE, audit.CLI_ACTOR),
    ]
    assert events[0].details["max_upload_bytes"] == 2 * 1024**3
    assert events[0].target == f"token {events[0].details['token_id']} ci"
    trail = run_cli(store, "audit", "--json")
    assert "created an API token" not in trail.output  # JSON names the action itself
    assert "token_create" in trail.output and secret not in trail.output
    for event in events:
        assert secret not in f"{event.target} {event.detail}"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--name", "ci", "--max-upload-bytes", "lots"], "not a size"),
        (["--name", "ci", "--max-upload-bytes", "2TiB"], "1 byte to 1 TiB"),
        (["--name", "ci", "--max-expires-in", "400d"], "366 days"),
        (["--name", "ci", "--uploads-per-hour", "0"], "from 1"),
        (["--name", "has space"], "letters, digits"),
        ([], "--name"),
    ],
)
def test_create_refuses_bad_options_as_a_usage_error(config, args, complaint):
    result = run_cli(config, "token", "create", *args)
    assert result.exit_code == 2, result.output
    assert complaint in result.output


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("2GiB", 2 * 1024**3),
        ("2gib", 2 * 1024**3),
        ("500MiB", 500 * 1024**2),
        ("2GB", 2 * 1000**3),
        ("100k", 100 * 1024),
        ("1 TiB", 1024**4),
    ],
)
def test_sizes_read_as_people_write_them(text, size):
    assert parse_size(text) == size


def test_a_size_that_is_not_one_is_a_usage_error():
    with pytest.raises(typer.BadParameter):
        parse_size("2 apples")
