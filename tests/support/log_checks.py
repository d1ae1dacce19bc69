"""What no log line may hold: shared by the log tests and the suite-wide check in conftest."""

from __future__ import annotations

import re

# A password or delete key in a query string, a secret header with its value, a whole
# download token or tus upload id in a link's path (logs show its first 8 characters), or
# an API token's secret (drop/protection/api_tokens.py), wherever it appears.
_LEAKS = [
    re.compile(r"[?&](password|key)=", re.IGNORECASE),
    re.compile(r"x-(drop-password|delete-token)\W+\w", re.IGNORECASE),
    re.compile(r"drop-(password|delete-token)\W+\w", re.IGNORECASE),
    re.compile(r"/(file|d|uploads)/[0-9a-f]{32}(?![0-9a-f])"),
    re.compile(r"authorization(\s*:\s*|[ \t]+)(?!-)\S", re.IGNORECASE),
    re.compile(r"drop_[0-9A-Za-z]{40}"),
]


def leaking_lines(text: str, secrets: tuple[str, ...] = ()) -> list[str]:
    """The lines of a log that hold a query secret, a secret header, a whole token in a
    link, or any of `secrets`."""
    return [
        line
        for line in text.splitlines()
        if any(pattern.search(line) for pattern in _LEAKS)
        or any(secret in line for secret in secrets)
    ]
