"""The queue keeps no task results: nobody reads them, and Redis would keep them for ever."""

from __future__ import annotations

import pytest

from drop import tasks
from drop.config import Config
from drop.tasks import build_huey, huey


@pytest.fixture
def empty_results():
    huey.storage.flush_results()
    yield huey
    huey.storage.flush_results()


def test_deleting_a_blob_stores_no_result(empty_results, tmp_path):
    blob = tmp_path / "blobs" / "ab" / ("ab" + "0" * 30)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"x")
    huey.execute(tasks.delete_blob.s(str(tmp_path), "ab" + "0" * 30))
    assert not blob.exists()
    assert huey.storage.result_store_size() == 0


def test_a_failing_blob_deletion_stores_no_error_either(empty_results, tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("blobs cannot live under a file")
    task = tasks.delete_blob.s(str(not_a_directory), "0" * 32)
    task.retries = 0  # the last attempt: Huey would store its error as the result
    huey.execute(task)
    assert huey.storage.result_store_size() == 0


def test_sweep_and_heartbeat_store_no_result(empty_results, config):
    huey.execute(tasks.sweep.s())
    huey.execute(tasks.heartbeat.s())
    assert huey.storage.result_store_size() == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_both_queues_are_built_without_results(config: Config):
    assert build_huey(config).results is False
