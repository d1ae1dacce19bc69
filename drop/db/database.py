"""Database connections: one per thread on SQLite, a pool that survives restarts on PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
from urllib.parse import urlparse

import peewee
from playhouse import db_url
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

log = logging.getLogger(__name__)

# Enough for every thread of one web worker to hold a connection at once; a request
# waits this long for one before it is answered 503.
POOL_MAX_CONNECTIONS = 32
POOL_WAIT_SECONDS = 5
# Idle connections older than this are closed on check-out, so a quiet worker does not
# keep server backends (and their memory) forever.
POOL_STALE_SECONDS = 300

# What a request answers 503 for: the database is down, restarting, locked or out of
# connections. Programming errors (ProgrammingError, IntegrityError, ...) stay 500s.
# sqlite3's own error comes through unwrapped when SQLite runs a statement while its rows
# are fetched (UPDATE … RETURNING): "database is locked" must be a 503 there too.
UNAVAILABLE_ERRORS = (
    peewee.OperationalError,
    peewee.InterfaceError,
    MaxConnectionsExceeded,
    sqlite3.OperationalError,
)


class ResilientPostgres(PooledPostgresqlDatabase):
    """A connection pool that replaces connections the server dropped, without a round trip.

    peewee's pool checks every connection with `SELECT 1` when it is checked out, which
    doubles the round trips of a one-statement request. Instead, a connection is trusted
    until it fails; if the first statement of a check-out fails because the server closed
    the connection (a restart or failover kills every pooled one), the pool is emptied and
    the statement is retried once on a new connection. Nothing ran on the dead connection,
    so the retry cannot apply anything twice.
    """

    def _is_closed(self, conn) -> bool:
        return bool(conn.closed) or self._adapter.txn_status(conn) == self._adapter.txn_unknown

    def connect(self, reuse_if_open: bool = False) -> bool:
        opened = super().connect(reuse_if_open)
        if opened:
            self._state.untried = True
        return opened

    def execute_sql(self, sql, params=None):
        return self._retry_if_dead(super().execute_sql, sql, params)

    def begin(self, *args, **kwargs):
        return self._retry_if_dead(super().begin, *args, **kwargs)

    def _retry_if_dead(self, run, *args, **kwargs):
        if not getattr(self._state, "untried", False):
            return run(*args, **kwargs)
        try:
            result = run(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError):
            if self.is_closed() or not self._state.conn.closed:
                raise
            log.warning("PostgreSQL closed a pooled connection; reconnecting")
            self._discard_dead_connection()
            result = run(*args, **kwargs)
        self._state.untried = False
        return result

    def _discard_dead_connection(self) -> None:
        # A transaction stack would be lost by reconnecting; only the first statement of
        # a check-out gets here, so at most the BEGIN of the outermost atomic() is pending.
        transactions = list(self._state.transactions)
        self.manual_close()
        self.close_idle()  # a restart killed them all
        self.connect()
        self._state.transactions.extend(transactions)


def open_database(url: str, *, pooled: bool = False) -> peewee.Database:
    """A Peewee database for a sqlite:// or postgresql:// URL.

    `pooled` gives PostgreSQL a connection pool (the web server's); short-lived commands
    and tests take a plain connection.
    """
    if urlparse(url).scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url[len("sqlite://") :]
        # WAL lets downloads read while an upload commits; busy_timeout makes concurrent
        # writers wait for the lock instead of failing. synchronous=full fsyncs the WAL at
        # every commit: a 201 or a granted one-time download must survive a power cut,
        # which `normal` does not promise under WAL. (The group commit's writer commits
        # with `normal` and fsyncs the WAL itself, after its turn: drop.db.group_commit.)
        return peewee.SqliteDatabase(
            path,
            pragmas={"journal_mode": "wal", "busy_timeout": 10_000, "synchronous": "full"},
        )
    if not pooled:
        return db_url.connect(url)
    parsed = db_url.parseresult_to_dict(urlparse(url))
    return ResilientPostgres(
        parsed.pop("database"),
        max_connections=POOL_MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        stale_timeout=POOL_STALE_SECONDS,
        **parsed,
    )


def is_pooled(database: peewee.Database) -> bool:
    return isinstance(database, ResilientPostgres)
