"""Downloads through the WSGI app whose body is not read to the end: a cut connection.

falcon's TestClient reads every body whole, which drop now counts as a completed
download (its blob goes at once). These call the app the way a server does, so a test
can stop after the head or the first chunk, as a connection that breaks does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import falcon.testing


@dataclass
class StartedAnswer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: Iterable[bytes]

    def first_chunk(self) -> bytes:
        return next(iter(self.body), b"")

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def start(client: falcon.testing.TestClient, path: str, method: str = "GET", **kwargs):
    """Run the request up to its answer's head; the body is left unread."""
    environ = falcon.testing.create_environ(path=path, method=method, **kwargs)
    head = {}

    def start_response(status, headers, exc_info=None):
        head["status"] = int(status.split()[0])
        head["headers"] = {name.lower(): value for name, value in headers}

    body = client.app(environ, start_response)
    return StartedAnswer(head["status"], head["headers"], body)


def cut(client: falcon.testing.TestClient, path: str, method: str = "GET", **kwargs):
    """A request whose connection breaks after the first chunk of its body."""
    answer = start(client, path, method, **kwargs)
    answer.first_chunk()
    answer.close()
    return answer
