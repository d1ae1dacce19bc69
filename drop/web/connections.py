"""Request-scoped database connections."""

from __future__ import annotations

import peewee

from drop.db.database import is_pooled


class DatabaseConnection:
    """Gives a request's database connection back once its response is ready.

    Nothing is opened up front: peewee connects at the first query, so an upload holds
    no connection while its bytes arrive, and a 4XX cache hit or /healthz never takes
    one. Blob bodies are opened and their rows read before the response starts, so
    nothing needs the connection while a streamed body is still being sent.

    On PostgreSQL the connection goes back to the pool. On SQLite each thread keeps its
    own connection open: opening one (and setting its pragmas) costs more than most
    requests.
    """

    def __init__(self, database: peewee.DatabaseProxy):
        self._db = database

    def process_response(self, req, resp, resource, req_succeeded):
        if is_pooled(self._db.obj) and not self._db.is_closed():
            self._db.close()
