"""A Range whose numbers are longer than int() reads (4,300 digits) is answered like any
other range past the file's end or malformed one (RFC 9110, section 14.2), never a 500."""

from __future__ import annotations

import pytest

from drop.drops.byte_ranges import ByteRange, Unsatisfiable, requested_range
from tests.support.common import upload

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"bytes=0-{HUGE}", ByteRange(0, 99)),  # to the end
        (f"bytes=-{HUGE}", ByteRange(0, 99)),  # the whole file
        (f"bytes=000{'0' * 5000}5-9", ByteRange(5, 9)),  # leading zeros are still 5
        (f"bytes={HUGE}-1", None),  # last before first: invalid, ignored
    ],
)
def test_numbers_of_any_length_are_read(header, expected):
    assert requested_range(header, 100) == expected


@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}9"])
def test_a_start_of_any_length_past_the_end_is_unsatisfiable(header):
    with pytest.raises(Unsatisfiable):
        requested_range(header, 100)


def test_a_resume_from_a_5000_digit_start_is_416(client):
    token = upload(client, b"x" * 100).json["token"]
    path = f"/api/v1.0/file/{token}"
    etag = client.simulate_get(path).headers["ETag"]
    refused = client.simulate_get(path, headers={"Range": f"bytes={HUGE}-", "If-Range": etag})
    assert refused.status_code == 416
    assert refused.headers["Content-Range"] == "bytes */100"
