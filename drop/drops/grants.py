"""A granted download's ETag: the capability to resume that one download for a while.

Every download drop grants carries a strong ETag naming the grant: the drop's download
count right after the claim (no two grants of a drop share it), when it was granted, and
an HMAC of both and the drop's token under the server's key. A Range request that sends
it back in If-Range within DROP_RESUME_WINDOW of the grant continues that download and
claims nothing; the tag cannot be forged, and it opens no other drop and no other window.
Checking one costs no database round trip.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import re
from dataclasses import dataclass

from drop.clock import epoch_ms
from drop.drops.server_key import ServerKey

PURPOSE = b"drop download grant v1"
# "<number>.<epoch seconds>.<22 base64url characters of MAC>", in quotes: a strong ETag.
_ETAG = re.compile(r'"([1-9][0-9]{0,9})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})"')
MAC_BYTES = 16
# Web nodes' clocks may disagree a little: a grant made "in the future" by this much is fine.
CLOCK_SKEW_SECONDS = 60


@dataclass(frozen=True)
class Grant:
    number: int  # the drop's download count right after this grant's claim
    granted_at: int  # epoch seconds


class GrantSigner:
    """Makes and checks grant ETags; without a key (a full disk at first start) makes none."""

    def __init__(self, key: ServerKey, window_seconds: int):
        self._key = key
        self._derived: bytes | None = None
        self.window_seconds = window_seconds

    def etag(self, token: str, number: int, granted_at: datetime.datetime) -> str | None:
        """The ETag of the `number`th download of drop `token`, or None: not resumable."""
        key = self._mac_key()
        if key is None or not self.window_seconds:
            return None
        seconds = epoch_ms(granted_at) // 1000
        return f'"{number}.{seconds}.{_mac(key, token, number, seconds)}"'

    def verify(self, token: str, if_range: str, now: datetime.datetime) -> Grant | None:
        """The grant `if_range` names for drop `token`, if it is one and its window is open."""
        match = _ETAG.fullmatch(if_range.strip())
        key = self._mac_key()
        if match is None or key is None or not self.window_seconds:
            return None
        number, seconds = int(match[1]), int(match[2])
        if not hmac.compare_digest(match[3], _mac(key, token, number, seconds)):
            return None
        age = epoch_ms(now) // 1000 - seconds
        if not -CLOCK_SKEW_SECONDS <= age <= self.window_seconds:
            return None
        return Grant(number, seconds)

    def _mac_key(self) -> bytes | None:
        if self._derived is None:
            material = self._key.material()
            if material is None:
                return None
            # A purpose-bound key: the same secret signs other things (dashboard sessions).
            self._derived = hmac.new(material, PURPOSE, hashlib.sha256).digest()
        return self._derived


def _mac(key: bytes, token: str, number: int, seconds: int) -> str:
    message = f"{token}:{number}:{seconds}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
