"""Sizes, durations and limits in words, for the web page."""

from __future__ import annotations

import datetime

_UNITS = ("bytes", "KB", "MB", "GB", "TB")
_SPANS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def file_size(size: int) -> str:
    """Decimal units, as file managers show them: 1 byte, 999 bytes, 1.5 MB."""
    if size < 1000:
        return plural(size, "byte")
    value = float(size)
    for unit in _UNITS[1:]:
        value /= 1000
        if value < 1000 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def human_bytes(count: int) -> str:
    """Binary units, as operators read them: 1536 -> '1.5 KiB'; exact bytes below 1 KiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """The largest whole unit, plus the next one when it matters: 2 days 3 hours, 5 minutes."""
    seconds = max(int(seconds), 0)
    if seconds == 0:
        return "less than a second"
    for index, (name, length) in enumerate(_SPANS):
        if seconds >= length:
            whole, rest = divmod(seconds, length)
            words = plural(whole, name)
            if index + 1 < len(_SPANS) and name in ("day", "hour"):
                next_name, next_length = _SPANS[index + 1]
                if rest // next_length:
                    words += " " + plural(rest // next_length, next_name)
            return words
    raise AssertionError("unreachable")


def expiry(expires_at: datetime.datetime, now: datetime.datetime) -> str:
    """'in 23 hours 59 minutes (2026-11-26 10:00 UTC)'."""
    when = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if expires_at <= now:
        return f"expired ({when})"
    return f"in {duration((expires_at - now).total_seconds())} ({when})"


def downloads_left(left: int, allowed: int) -> str:
    if allowed == 1:
        return "1 download, then it is deleted" if left else "no downloads left"
    return f"{plural(left, 'download')} left of {allowed}"
