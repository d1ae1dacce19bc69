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
        suffix = _at_most(last, size)
        if suffix == 0 or size == 0:
            raise Unsatisfiable()
        return ByteRange(size - suffix, size - 1)
    # Past the file, every position is as good as `size`: a number of any length is read
    # without int(), which refuses more than 4,300 digits.
    start = _at_most(first, size)
    if last and _magnitude(last) < _magnitude(first):
        return None  # invalid: ignored like any other malformed range
    if start >= size:
        raise Unsatisfiable()
    end = min(_at_most(last, size), size - 1) if last else size - 1
    return ByteRange(start, end)


def _magnitude(digits: str) -> tuple[int, str]:
    """A key that orders digit strings as the numbers they spell."""
    significant = digits.lstrip("0") or "0"
    return len(significant), significant


def _at_most(digits: str, cap: int) -> int:
    """The number `digits` spell, or `cap` if it is larger."""
    if _magnitude(digits) > _magnitude(str(cap)):
        return cap
    return int(digits.lstrip("0") or "0")
