"""drop-ops --version: the installed distribution's version, pyproject.toml's one source."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from typer.testing import CliRunner

from drop.cli import cli
from tests.support.common import ROOT


def test_version_prints_the_installed_version_and_exits_0():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"drop-ops {version('drop')}\n"


def test_the_version_is_pyprojects():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("drop") == declared


def test_version_needs_no_configuration():
    # Eager: it answers before any command (or a bad setting) is looked at.
    result = CliRunner().invoke(cli, ["--version", "migrate"], env={"DROP_MAX_UPLOAD_BYTES": "x"})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("drop-ops ")


def test_the_console_script_prints_it():
    script = Path(sys.executable).parent / "drop-ops"  # installed beside the interpreter
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"drop-ops \d+\.\d+\.\d+\S*\n", done.stdout)
