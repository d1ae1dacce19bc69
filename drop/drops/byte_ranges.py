"""The one byte range a resumed download asks for (RFC 9110, section 14)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONE_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class Unsatisfiable(Exception):
    """The range starts past the end of the file: the answer is 416."""


def requested_range(header: str, size: int) -> ByteRange | None:
    """The range `header` asks for in a file of `size` bytes; None for a header drop does
    not serve (malformed, several ranges), which the server may ignore.

    Raises Unsatisfiable when the range lies outside the file.
    """
    match = _ONE_RANGE.fullmatch(header)
    if match is None or not (match[1] or match[2]):
        return None
    first, last = match[1], match[2]
    if not first:  # "-N": the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable()
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored like any other malformed range
    if start >= size:
        raise Unsatisfiable()
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end)
