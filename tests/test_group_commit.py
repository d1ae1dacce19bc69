"""SQLite's writers take turns through a lock file, in every process that writes."""

import threading
from concurrent.futures import ThreadPoolExecutor

import peewee
import pytest

from drop.database import open_database
from drop.group_commit import GroupCommit, WriterTurns


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


NORMAL, FULL = 1, 2  # what PRAGMA synchronous reads


def synchronous_of(database):
    return lambda: database.execute_sql("PRAGMA synchronous").fetchone()[0]


def writes_to(tmp_path):
    database = peewee.DatabaseProxy()
    database.initialize(open_database(f"sqlite:///{tmp_path / 'drop.sqlite3'}"))
    return database, GroupCommit(database)


def test_a_forgettable_write_commits_without_an_fsync_and_the_next_durable_one_with_one(tmp_path):
    database, writes = writes_to(tmp_path)
    synchronous = synchronous_of(database)
    assert writes.run(synchronous, durable=False) == NORMAL
    assert writes.run(synchronous) == FULL
    assert writes.run(synchronous, durable=False) == NORMAL


def test_a_batch_of_both_kinds_commits_each_kind_on_its_own_terms(tmp_path):
    database, writes = writes_to(tmp_path)
    synchronous = synchronous_of(database)
    held, release = threading.Event(), threading.Event()

    def hold_the_writer():
        held.set()
        release.wait(10)

    with ThreadPoolExecutor(7) as pool:
        holding = pool.submit(writes.run, hold_the_writer)
        assert held.wait(10)
        # Queued while the writer is busy: they make one batch once it is free.
        forgettable = [pool.submit(writes.run, synchronous, durable=False) for _ in range(3)]
        durable = [pool.submit(writes.run, synchronous) for _ in range(3)]
        release.set()
        holding.result(10)
        assert [future.result(10) for future in forgettable] == [NORMAL] * 3
        assert [future.result(10) for future in durable] == [FULL] * 3


def test_a_failed_forgettable_write_leaves_the_connection_durable(tmp_path):
    database, writes = writes_to(tmp_path)

    def fails():
        database.execute_sql("SELECT * FROM no_such_table")

    with pytest.raises(peewee.OperationalError):
        writes.run(fails, durable=False)
    assert writes.run(synchronous_of(database)) == FULL
