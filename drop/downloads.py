"""What every permitted download answers with, whichever path serves the bytes."""

from __future__ import annotations

import falcon

from drop.filenames import content_disposition
from drop.models import Drop

PASSWORD_HEADER = "X-Drop-Password"


def request_password(req: falcon.Request) -> str | None:
    """The password from the X-Drop-Password header, or the seed's `password` query parameter."""
    return req.get_header(PASSWORD_HEADER) or req.get_param("password")


def download_headers(drop: Drop) -> dict[str, str]:
    """Headers that make a browser save the bytes, never render them as our page."""
    return {
        "Content-Type": drop.content_type,
        "Content-Disposition": content_disposition(drop.filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }
