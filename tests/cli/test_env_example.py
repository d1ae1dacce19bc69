"""ops/drop.env.example: every setting drop reads, and nothing it does not read."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import typer

from drop.cli import cli
from drop.config import Config
from tests.runtime.test_gunicorn_conf import settings
from tests.support.common import ROOT, drop_env

EXAMPLE = ROOT / "ops" / "drop.env.example"
# `NAME=value`, set or commented out (`# NAME=value`, a setting left at its default).
ASSIGNMENT = re.compile(r"^#?\s*(DROP_[A-Z0-9_]+)=(.*)$")
# What a first deployment sets or must decide about.
IMPORTANT = {
    "DROP_DATA_DIR",
    "DROP_DATABASE_URL",
    "DROP_REDIS_URL",
    "DROP_BASE_URL",
    "DROP_BIND",
    "DROP_WEB_WORKERS",
    "DROP_TRUSTED_PROXIES",
    "DROP_ACCEL_REDIRECT",
    "DROP_ADMIN_TOKEN",
    "DROP_SECRET_KEY",
    "DROP_MAX_UPLOAD_BYTES",
    "DROP_LOG_FORMAT",
}


class ReadingsRecorded(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self):
        super().__init__()
        self.read: set[str] = set()

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def __contains__(self, name):
        self.read.add(name)
        return super().__contains__(name)


def read_by_config() -> set[str]:
    env = ReadingsRecorded()
    Config.from_env(env)
    return env.read


def read_by_the_cli() -> set[str]:
    names = set()
    stack = [typer.main.get_command(cli)]
    while stack:
        command = stack.pop()
        stack.extend(getattr(command, "commands", {}).values())  # a group's commands
        for param in command.params:
            envvars = param.envvar or ()
            names.update([envvars] if isinstance(envvars, str) else envvars)
    return names


def read_by_gunicorn_conf(config) -> set[str]:
    """The names ops/gunicorn.conf.py looks up, evaluated as gunicorn would (a child process)."""
    code = """
import json, os, runpy, sys
read = set()
class Recording(type(os.environ)):
    def __getitem__(self, name):
        read.add(name)
        return super().__getitem__(name)
    def __contains__(self, name):
        read.add(name)
        return super().__contains__(name)
environ = os.environ
os.environ = Recording(environ._data, environ.encodekey, environ.decodekey,
                       environ.encodevalue, environ.decodevalue)
runpy.run_path(sys.argv[1])
print(json.dumps(sorted(read)))
"""
    result = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "ops" / "gunicorn.conf.py")],
        env=drop_env(config),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def example_settings() -> dict[str, str]:
    settings = {}
    for line in EXAMPLE.read_text().splitlines():
        if match := ASSIGNMENT.match(line):
            assert match[1] not in settings, f"{match[1]} is listed twice"
            settings[match[1]] = match[2]
    return settings


def read_by_drop(config) -> set[str]:
    names = read_by_config() | read_by_the_cli() | read_by_gunicorn_conf(config)
    return {name for name in names if name.startswith("DROP_")}


def set_lines() -> dict[str, str]:
    """The settings this example deployment sets (its uncommented lines)."""
    return {
        match[1]: match[2]
        for line in EXAMPLE.read_text().splitlines()
        if (match := ASSIGNMENT.match(line)) and not line.startswith("#")
    }


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_setting_in_the_example_is_one_drop_reads(config):
    unknown = set(example_settings()) - read_by_drop(config)
    assert not unknown, f"drop reads none of {sorted(unknown)}"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_example_lists_every_setting_drop_reads(config):
    missing = read_by_drop(config) - set(example_settings())
    assert not missing, f"ops/drop.env.example lacks {sorted(missing)}"


def test_the_settings_a_first_deployment_decides_are_there():
    missing = IMPORTANT - set(example_settings())
    assert not missing, f"ops/drop.env.example lacks {sorted(missing)}"


def test_the_example_deployment_is_a_valid_configuration():
    Config.from_env(set_lines())


def test_a_commented_out_value_is_the_default():
    # Uncommenting `# NAME=value` changes nothing until the value is edited; the settings
    # gunicorn reads (DROP_WEB_*) have their own test in test_gunicorn_conf.py.
    deployment = set_lines()
    as_shipped = Config.from_env(deployment)
    for name, value in example_settings().items():
        if name in deployment or not value or name.startswith("DROP_WEB_"):
            continue
        assert Config.from_env(dict(deployment, **{name: value})) == as_shipped, name


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_web_servers_defaults_are_gunicorn_confs(config):
    # The number of workers follows the machine (ops/gunicorn.conf.py): the example leaves
    # it unset and says what it comes to, rather than naming a number.
    assert example_settings()["DROP_WEB_WORKERS"] == ""
    assert "Unset: one per core, at least two" in EXAMPLE.read_text()
    assert settings(config)["workers"] == max(len(os.sched_getaffinity(0)), 2)
    assert settings(config)["threads"] == int(example_settings()["DROP_WEB_THREADS"])
