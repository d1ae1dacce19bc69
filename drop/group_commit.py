"""SQLite group commit: the small writes of every thread in a process share transactions.

SQLite lets one connection write at a time, and with synchronous=full every commit waits
for an fsync. With one transaction per download claim, concurrent requests queue on the
write lock (SQLite's busy handler polls for it with sleeps) and then each waits for its
own fsync. Instead, one writer thread per process takes every write that is waiting,
runs them in one transaction, each in its own savepoint (a write that fails undoes only
itself), commits once, and only then answers the callers: just as durable, with one lock
and one fsync shared by many writes.

PostgreSQL needs none of this: it runs each write on the caller's own pooled connection.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

import peewee

from drop.models import db

T = TypeVar("T")

MAX_BATCH = 64


class GroupCommit:
    """Runs write functions on a writer thread, many to a transaction."""

    def __init__(self, database: peewee.DatabaseProxy, max_batch: int = MAX_BATCH):
        self._db = database
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue | None = None
        self._pid: int | None = None

    def run(self, write: Callable[[], T]) -> T:
        """Run `write` in a shared transaction and return its result once it is committed."""
        future: Future = Future()
        self._writer_queue().put((write, future))
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
        while True:
            batch = [pending.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            if database is not None and database is not self._db.obj:
                database.close()  # the app now serves another database (tests do this)
            database = self._db.obj
            self._commit(database, batch)

    def _commit(self, database: peewee.Database, batch: list) -> None:
        done = []
        try:
            with database.atomic("IMMEDIATE"):
                for write, future in batch:
                    try:
                        with database.atomic():  # a savepoint
                            done.append((future, write()))
                    except Exception as error:
                        future.set_exception(error)
        except BaseException as error:  # the commit failed: nothing of this batch is stored
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for future, result in done:
            future.set_result(result)


_sqlite_writes = GroupCommit(db)


def durable_write(write: Callable[[], T]) -> T:
    """Run a small write that must be durable before drop answers, and return its result.

    On SQLite it shares a transaction and an fsync with the other threads' writes; on
    PostgreSQL it runs at once on the caller's connection.
    """
    if isinstance(db.obj, peewee.SqliteDatabase):
        return _sqlite_writes.run(write)
    return write()
