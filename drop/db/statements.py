"""Hand-written statements for the requests every client makes, prepared on PostgreSQL.

peewee takes longer to build a statement and wrap its result than the database takes to
answer it, and PostgreSQL took longer to plan the download claim than to run it (0.25 ms
against 0.2 ms, triggers included). So the hot paths (the download claim, the row read of
a 404 or a password check, an upload's block checks and its INSERT) are SQL written here
once, and on PostgreSQL each is prepared once per pooled connection. SQLite's driver keeps
its own cache of compiled statements per connection, so there they simply run.
"""

from __future__ import annotations

import functools
import itertools
import re
import weakref

import peewee

from drop.db.models import db

# PostgreSQL connections (of this process's pool) and the statements prepared on each.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NO_SUCH_STATEMENT = "26000"  # invalid_sql_statement_name
_ALREADY_PREPARED = "42P05"  # duplicate_prepared_statement


def execute(name: str, sql: str, params):
    """Run `sql` (placeholders in the database's style), prepared as `name` on PostgreSQL.

    A connection that lost its statements (replaced after a restart, or reset) has them
    prepared again. Inside a transaction the statement runs unprepared: a failed EXECUTE
    would abort the transaction. Statements name their columns rather than `*`: a
    prepared `SELECT *` fails once a migration adds a column.
    """
    if isinstance(db.obj, peewee.SqliteDatabase) or db.in_transaction():
        return db.execute_sql(sql, params)
    if name not in _prepared.get(db.connection(), ()):
        _prepare(name, sql)
    execute_sql = f"EXECUTE {name}({', '.join([db.param] * len(params))})"
    try:
        return db.execute_sql(execute_sql, params)
    except peewee.DatabaseError as error:
        if _sqlstate(error) != _NO_SUCH_STATEMENT:
            raise
    _prepare(name, sql)
    return db.execute_sql(execute_sql, params)


def first_row(model: type[peewee.Model], name: str, sql: str, params) -> peewee.Model | None:
    """The first row of `sql` (a SELECT of `columns(model)`) as a `model`, or None."""
    cursor = execute(name, sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    by_column = model._meta.columns
    fields = [by_column[column[0]] for column in cursor.description]
    return model(
        **{field.name: field.python_value(value) for field, value in zip(fields, row, strict=True)}
    )


@functools.cache
def columns(model: type[peewee.Model]) -> str:
    """The model's columns, quoted and comma-separated, for a hand-written SELECT."""
    return ", ".join(f'"{field.column_name}"' for field in model._meta.sorted_fields)


def _prepare(name: str, sql: str) -> None:
    numbered = itertools.count(1)
    statement = re.sub(re.escape(db.param), lambda _: f"${next(numbered)}", sql)
    try:
        db.execute_sql(f"PREPARE {name} AS {statement}")
    except peewee.DatabaseError as error:
        # Prepared already: the connection kept it, but this process lost track of it.
        if _sqlstate(error) != _ALREADY_PREPARED:
            raise
    _prepared.setdefault(db.connection(), set()).add(name)


def _sqlstate(error: peewee.DatabaseError) -> str | None:
    return getattr(getattr(error, "orig", None), "pgcode", None)
