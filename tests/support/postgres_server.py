"""A PostgreSQL server of the test's own, on a free port, that the test may stop and start.

Never the machine's shared PostgreSQL: other test runs depend on that one. PostgreSQL
refuses to run as root, so as root the cluster belongs to the `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2

from tests.support.common import free_port, wait_until

BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])


class OwnPostgres:
    def __init__(self):
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # Not under pytest's tmp dir: the postgres user cannot enter /tmp/pytest-of-root.
        self.workdir = Path(tempfile.mkdtemp(prefix="drop-test-pg-"))
        self.datadir = self.workdir / "data"
        self.logfile = self.workdir / "postgres.log"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + list(command), check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run(
            str(BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-N"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(BIN / "pg_ctl"), "start", "-D", str(self.datadir), "-l", str(self.logfile),
            "-o", options, "-w", "-t", "60",
        )  # fmt: skip
        assert wait_until(self.answers), "PostgreSQL did not start"

    def stop(self) -> None:
        self._run(str(BIN / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w")

    def answers(self) -> bool:
        try:
            psycopg2.connect(self.url, connect_timeout=1).close()
        except psycopg2.OperationalError:
            return False
        return True

    def __enter__(self) -> OwnPostgres:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc):
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
