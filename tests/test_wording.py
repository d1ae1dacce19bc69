"""Sizes, durations and limits as the page words them."""

import datetime

import pytest

from drop import wording


@pytest.mark.parametrize(
    "size, words",
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1500, "1.5 KB"),
        (16 * 1024 * 1024, "16.8 MB"),
        (123_456_789, "123 MB"),
        (10**16, "10000 TB"),
    ],
)
def test_file_size(size, words):
    assert wording.file_size(size) == words


@pytest.mark.parametrize(
    "seconds, words",
    [
        (0, "less than a second"),
        (59, "59 seconds"),
        (3600, "1 hour"),
        (86399, "23 hours 59 minutes"),
        (90061, "1 day 1 hour"),
        (7 * 86400, "7 days"),
    ],
)
def test_duration(seconds, words):
    assert wording.duration(seconds) == words


def test_expiry_names_the_time_left_and_the_moment():
    now = datetime.datetime(2026, 11, 25, 10, 0)
    later = now + datetime.timedelta(hours=2)
    assert wording.expiry(later, now) == "in 2 hours (2026-11-25 12:00 UTC)"
    assert wording.expiry(now, later) == "expired (2026-11-25 10:00 UTC)"


def test_downloads_left():
    assert wording.downloads_left(1, 1) == "1 download, then it is deleted"
    assert wording.downloads_left(1, 2) == "1 download left of 2"
    assert wording.downloads_left(0, 3) == "0 downloads left of 3"
