"""Migrations take a lock: several `drop-ops migrate` at once all succeed, each script once."""

from __future__ import annotations

import subprocess
import sys

from drop.db import migrations
from drop.db.models import open_database
from tests.conftest import reset_postgres
from tests.support.common import ROOT, drop_env

RUNS = 4


def fresh_database(config) -> None:
    if config.database_url:
        reset_postgres(config.database_url)
    else:
        (config.data_dir / "drop.sqlite3").unlink()


def test_migrate_run_several_times_at_once_succeeds_everywhere(config):
    fresh_database(config)
    env = drop_env(config)
    # Each waits on stdin until all have started, so their migrations really overlap.
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; sys.stdin.read(); from drop.cli import cli; cli(['migrate'])",
            ],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(RUNS)
    ]
    for run in runs:
        run.stdin.close()
    outputs = [run.stdout.read() for run in runs]
    assert [run.wait(timeout=120) for run in runs] == [0] * RUNS, outputs

    applied = [name for output in outputs for name in _applied_names(output)]
    expected = [path.stem for path in migrations.available()]
    assert sorted(applied) == sorted(expected)  # each script ran exactly once
    database = open_database(config.effective_database_url)
    with database:
        assert all(entry.applied for entry in migrations.status(database))


def _applied_names(output: str) -> list[str]:
    for line in output.splitlines():
        if line.startswith("applied "):
            return line.removeprefix("applied ").split(", ")
    return []
