"""Many large uploads at once, timed from the first byte sent to the last answer read.

wrk sends one body from Lua memory and is at its best with small ones; for 16 MiB
bodies a few Python threads do as well (sendall releases the GIL) and check each answer.
"""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from bench.wrk import Measure


def upload_many(
    url: str, body: bytes, content_type: str, *, count: int, parallel: int, expect_status: int
) -> Measure:
    """PUT `body` to `url` `count` times, `parallel` at a time, each on a new connection."""
    parts = urlsplit(url)

    def one(_: int) -> str:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            connection.request("PUT", parts.path, body=body, headers={"Content-Type": content_type})
            answer = connection.getresponse()
            answer.read()
            return str(answer.status)
        except OSError as error:
            return type(error).__name__
        finally:
            connection.close()

    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        outcomes = list(pool.map(one, range(count)))
    seconds = time.monotonic() - started
    expected = outcomes.count(str(expect_status))
    unexpected: dict[str, int] = {}
    for outcome in outcomes:
        if outcome != str(expect_status):
            unexpected[outcome] = unexpected.get(outcome, 0) + 1
    return Measure(
        requests=sum(outcome.isdigit() for outcome in outcomes),
        seconds=seconds,
        bytes=len(body) * expected,
        expected=expected,
        unexpected=unexpected,
    )
