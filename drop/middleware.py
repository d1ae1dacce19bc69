"""Request-scoped database connections."""

from __future__ import annotations

import peewee


class DatabaseConnection:
    """Opens the connection when a request reaches a resource; closes it after the response.

    Blob bodies are opened and their rows read before the response starts, so nothing
    needs the connection while a streamed body is still being sent.
    """

    def __init__(self, database: peewee.DatabaseProxy):
        self._db = database

    def process_resource(self, req, resp, resource, params):
        # Health and metrics endpoints open their own connection, so a database outage
        # becomes their answer instead of an error before they run.
        if not getattr(resource, "opens_database", True):
            return
        self._db.connect(reuse_if_open=True)

    def process_response(self, req, resp, resource, req_succeeded):
        if not self._db.is_closed():
            self._db.close()
