"""SQLite's writers take turns through a lock file, in every process that writes."""

import errno
import fcntl
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import peewee
import pytest

from drop.db.database import open_database
from drop.db.group_commit import GroupCommit, WriterTurns
from tests.support.common import wait_until


def test_a_writer_waits_for_the_turn_another_holds_and_gets_it_once_let_go(tmp_path):
    database = str(tmp_path / "drop.sqlite3")
    # Two opens of the lock file are two processes' writers to flock (one lock each).
    first, second = WriterTurns(database), WriterTurns(database)
    entered = threading.Event()

    def write():
        with second.held():
            entered.set()

    try:
        with first.held():
            writer = threading.Thread(target=write)
            writer.start()
            assert not entered.wait(0.3)  # still the first one's turn
        assert entered.wait(10)
        writer.join()
    finally:
        first.close()
        second.close()
    assert (tmp_path / "drop.sqlite3-writers.lock").exists()


def test_an_in_memory_database_takes_no_turns():
    turns = WriterTurns(":memory:")
    with turns.held(), turns.held():  # nothing to wait for
        pass
    turns.close()


NORMAL = 1  # what PRAGMA synchronous reads


@pytest.fixture
def writes(tmp_path):
    database = peewee.DatabaseProxy()
    database.initialize(open_database(f"sqlite:///{tmp_path / 'drop.sqlite3'}"))
    database.execute_sql("CREATE TABLE counted (n INTEGER)")
    return database, GroupCommit(database)


@pytest.fixture
def syncs(tmp_path, monkeypatch) -> list[tuple[str, bool]]:
    """Each fdatasync from now on: the file's name, and whether a writer held its turn."""
    seen = []
    real = os.fdatasync
    turns = os.open(tmp_path / "drop.sqlite3-writers.lock", os.O_RDWR | os.O_CREAT)

    def spy(fd):
        try:
            fcntl.flock(turns, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = True
        else:
            fcntl.flock(turns, fcntl.LOCK_UN)
            held = False
        seen.append((os.path.basename(os.readlink(f"/proc/self/fd/{fd}")), held))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", spy)
    yield seen
    os.close(turns)


def count(database, synchronous=None):
    def write():
        database.execute_sql("INSERT INTO counted VALUES (1)")
        return database.execute_sql("PRAGMA synchronous").fetchone()[0]

    return write


def test_a_durable_write_is_answered_after_the_wal_is_synced_outside_the_turn(writes, syncs):
    database, group = writes
    # SQLite's COMMIT does not sync (synchronous=normal): the writer does, its turn let go.
    assert group.run(count(database)) == NORMAL
    assert syncs == [("drop.sqlite3-wal", False)]


def test_a_forgettable_write_alone_is_answered_without_an_fsync(writes, syncs):
    database, group = writes
    assert group.run(count(database), durable=False) == NORMAL
    assert syncs == []
    assert database.execute_sql("SELECT count(*) FROM counted").fetchone()[0] == 1


def test_a_batch_of_both_kinds_is_synced_once_before_any_is_answered(writes, syncs):
    database, group = writes
    held, release = threading.Event(), threading.Event()

    def hold_the_writer():
        held.set()
        release.wait(10)

    with ThreadPoolExecutor(7) as pool:
        holding = pool.submit(group.run, hold_the_writer, durable=False)
        assert held.wait(10)
        # Queued while the writer is busy: they make one batch once it is free.
        answers = [pool.submit(group.run, count(database), durable=False) for _ in range(3)]
        answers += [pool.submit(group.run, count(database)) for _ in range(3)]
        assert wait_until(lambda: group._queue.qsize() == 6, timeout=10)
        release.set()
        holding.result(10)
        assert [answer.result(10) for answer in answers] == [NORMAL] * 6
    assert syncs == [("drop.sqlite3-wal", False)]


def test_a_failed_fsync_fails_the_writes_it_was_to_make_durable(writes, monkeypatch):
    database, group = writes

    def failing(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(OSError, match="Input/output error"):
        group.run(count(database))
    monkeypatch.undo()
    assert group.run(count(database)) == NORMAL  # the writer goes on
