"""SQLite group commit: the small writes of every thread in a process share transactions.

SQLite lets one connection write at a time, and with synchronous=full every commit waits
for an fsync. With one transaction per download claim, concurrent requests queue on the
write lock (SQLite's busy handler polls for it with sleeps) and then each waits for its
own fsync. Instead, one writer thread per process takes every write that is waiting,
runs them in one transaction, each in its own savepoint (a write that fails undoes only
itself), commits once, and only then answers the callers: just as durable, with one lock
and one fsync shared by many writes.

The writers of a server's processes (one per gunicorn worker) take turns through a lock
file beside the database (`flock`), not through SQLite's own lock: SQLite's busy handler
polls a held lock with sleeps of 1, 2, 5, 10 ms and more, so a writer that finds another
process committing slept far longer than the commit took (72% of the writer's time went
to waiting in BEGIN under `make bench`'s download claims). The kernel wakes a process
waiting on `flock` the moment the lock is let go.

A turn holds only the transaction, not the fsync that makes it durable: the writer
commits with synchronous=normal (under WAL: no fsync in COMMIT), lets go of its turn, and
only then fsyncs the WAL itself and answers its callers. The other process's transaction
runs while this one waits for the disk, as PostgreSQL's backends do. A power cut between
the COMMIT and that fsync may lose the batch, but nobody has been answered yet, and
SQLite's WAL stays consistent (a frame is only valid once its whole commit is there).

PostgreSQL needs none of this: it runs each write on the caller's own pooled connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TypeVar

import peewee

from drop.db.models import db

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BATCH = 64
# The writer's commits: under WAL, NORMAL writes the commit to the WAL without an fsync
# (and still syncs at checkpoints); the writer then fsyncs the WAL after its turn.
WRITER_SYNCHRONOUS = "NORMAL"


class GroupCommit:
    """Runs write functions on a writer thread, many to a transaction."""

    def __init__(self, database: peewee.DatabaseProxy, max_batch: int = MAX_BATCH):
        self._db = database
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue | None = None
        self._pid: int | None = None

    def run(self, write: Callable[[], T], *, durable: bool = True) -> T:
        """Run `write` in a shared transaction and return its result once it is committed.

        `durable=False`: a write that may be lost in a power cut (a rate counter) is
        answered without waiting for an fsync (unless a durable write shares its batch).
        """
        future: Future = Future()
        self._writer_queue().put((write, future, durable))
        return future.result()

    def _writer_queue(self) -> queue.SimpleQueue:
        # Started on first use in each process: a thread does not survive gunicorn's fork.
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._queue = queue.SimpleQueue()
                    thread = threading.Thread(
                        target=self._write_batches, args=(self._queue,), daemon=True
                    )
                    thread.start()
                    self._pid = os.getpid()
        return self._queue

    def _write_batches(self, pending: queue.SimpleQueue) -> None:
        database = None
        turns = None
        while True:
            first = pending.get()
            if database is not None and database is not self._db.obj:
                database.close()  # the app now serves another database (tests do this)
                turns.close()
            if database is not self._db.obj:
                database = self._db.obj
                # Opened here, in the process that writes: a lock file inherited through
                # fork() would be one lock shared by parent and child.
                turns = WriterTurns(database.database)
            self._commit(database, first, pending, turns)

    def _commit(
        self,
        database: peewee.Database,
        first: tuple,
        pending: queue.SimpleQueue,
        turns: WriterTurns,
    ) -> None:
        batch = [first]
        done = []
        try:
            with turns.held():
                # Drained only once this process has its turn: the writes that arrived
                # while another process committed join this transaction rather than wait
                # for the next one (batches were about one write each under `make bench`).
                batch.extend(self._waiting(pending))
                database.execute_sql(f"PRAGMA synchronous = {WRITER_SYNCHRONOUS}")
                with database.atomic("IMMEDIATE"):
                    if len(batch) == 1:
                        # Alone, a write needs no savepoint (two statements fewer): if it
                        # fails, the transaction rolls back and the failure is its own.
                        write, future, _ = first
                        done.append((future, write()))
                    else:
                        self._write_each(database, batch, done)
            # After the turn: the next writer's transaction runs while this one's fsync
            # waits for the disk. Nobody is answered before it returns.
            if any(durable for _, _, durable in batch):
                sync_wal(database.database)
        except BaseException as error:  # the commit, a lone write or the fsync failed
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for future, result in done:
            future.set_result(result)

    @staticmethod
    def _write_each(database: peewee.Database, batch: list, done: list) -> None:
        for write, future, _ in batch:
            try:
                with database.atomic():  # a savepoint: a write that fails undoes only itself
                    done.append((future, write()))
            except Exception as error:
                future.set_exception(error)

    def _waiting(self, pending: queue.SimpleQueue) -> list:
        waiting = []
        while len(waiting) < self._max_batch - 1:
            try:
                waiting.append(pending.get_nowait())
            except queue.Empty:
                break
        return waiting


class WriterTurns:
    """The writers of one SQLite database, in all processes, taking turns (`flock`).

    Only a turn is waited for here; SQLite's own lock still guards the database against
    any other writer (the Huey worker, `drop-ops`), with its busy timeout.
    """

    def __init__(self, database_path: str):
        self._fd = None
        if not on_disk(database_path):
            return
        try:
            self._fd = os.open(f"{database_path}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            # Writes still work, waiting on SQLite's own lock: slower, never wrong.
            log.warning("SQLite writers take no turns, the lock file cannot be opened: %s", error)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._fd is None:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # waits without holding the GIL
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def on_disk(database_path: str) -> bool:
    """Whether the database is a plain file (not in memory, nor a `file:` URI)."""
    return (
        bool(database_path)
        and database_path != ":memory:"
        and not database_path.startswith("file:")
    )


def sync_wal(database_path: str) -> None:
    """fsync the database's write-ahead log, as synchronous=full does inside each COMMIT.

    An in-memory database has nothing to sync. Without a WAL file (the database is not in
    WAL mode, or its WAL was checkpointed and removed) the database file itself is synced.
    """
    if not on_disk(database_path):
        return
    for path in (f"{database_path}-wal", database_path):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)
        return


_sqlite_writes = GroupCommit(db)


def durable_write(write: Callable[[], T]) -> T:
    """Run a small write that must be durable before drop answers, and return its result.

    On SQLite it shares a transaction and an fsync with the other threads' writes; on
    PostgreSQL it runs at once on the caller's connection.
    """
    if isinstance(db.obj, peewee.SqliteDatabase):
        return _sqlite_writes.run(write)
    return write()


def forgettable_write(write: Callable[[], T]) -> T:
    """Run a small write that a power cut may lose (a rate counter), and return its result.

    On SQLite it shares a transaction with the other threads' writes and, in a batch of
    such writes alone, is answered without waiting for an fsync; on PostgreSQL it runs at
    once on the caller's connection.
    """
    if isinstance(db.obj, peewee.SqliteDatabase):
        return _sqlite_writes.run(write, durable=False)
    return write()
