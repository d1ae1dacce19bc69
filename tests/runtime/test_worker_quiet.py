"""A worker with nothing to do is quiet at INFO: Huey's lines about periodic tasks are DEBUG;
startup, shutdown and the work a task actually did are still logged."""

from __future__ import annotations

import datetime
import io
import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from drop import tasks
from drop.db.models import EXPIRED, Drop, init_database
from drop.runtime.logs import configure_logging
from tests.support.common import drop_env, wait_until
from tests.support.ops import plant_drop

SWEPT = "sweep: 1 expired, 1 blobs deleted, 0 uploaders forgotten"
# The consumer's own lines around a run: its start (up to the list of tasks) and its stop.
STARTED = "The following commands are available:"
STOPPING = "Received SIGINT"


def log_entries(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_idle_worker_logs_only_the_work_its_periodic_tasks_did(config, tmp_path):
    # Huey's scheduler enqueues the tasks due this minute as soon as it starts (the sweep
    # and the heartbeat every minute), so a fresh worker runs them at once. One expired
    # drop gives the sweep something to say, which shows it ran.
    init_database(config.effective_database_url)
    expired = plant_drop(
        config, age=datetime.timedelta(days=2), lifetime=datetime.timedelta(days=1)
    )
    log = tmp_path / "worker.log"
    worker = [Path(sys.executable).parent / "drop-ops", "worker"]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            worker,
            # No reconciliation: at minute 7 it would walk storage while the sweep deletes the
            # expired drop's blob, and might rightly warn about it.
            env=drop_env(config, DROP_LOG_FORMAT="json", DROP_RECONCILE_HOURS="0"),
            stdout=output,
            stderr=output,
        )
    try:
        assert wait_until(
            lambda: any(e["message"] == SWEPT for e in log_entries(log)), timeout=60
        ), log.read_text()
    finally:
        # SIGINT: Huey's graceful stop, which lets the running tasks finish (and log).
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, log.read_text()

    messages = [e["message"] for e in log_entries(log)]
    started = next(i for i, m in enumerate(messages) if m.startswith(STARTED))
    stopping = messages.index(STOPPING)
    between = log_entries(log)[started + 1 : stopping]
    assert [(e["level"], e["message"]) for e in between] == [("info", SWEPT)]
    assert Drop.get(Drop.token == expired.token).status == EXPIRED


def test_huey_lines_about_a_periodic_task_are_debug_lines():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("text", level=logging.DEBUG)
        root.handlers[0].setStream(stream)
        huey_log = logging.getLogger("huey")
        huey_log.info("Executing %s", tasks.heartbeat.s())
        huey_log.info("Executing %s", tasks.delete_blob.s("/nowhere", "0" * 32, None))
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    periodic, queued = stream.getvalue().splitlines()
    assert " DEBUG huey: Executing drop.tasks.heartbeat" in periodic
    # A task a request queued is real work: still INFO.
    assert " INFO huey: Executing drop.tasks.delete_blob" in queued
