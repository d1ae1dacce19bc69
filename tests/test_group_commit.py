"""SQLite's writers take turns through a lock file, in every process that writes."""

import threading

from drop.group_commit import WriterTurns


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
