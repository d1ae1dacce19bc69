"""QR codes of share links, rendered on the server as inline SVG."""

from __future__ import annotations

import markupsafe
import segno


def qr_svg(url: str) -> markupsafe.Markup:
    """An SVG a phone camera can read: black on white whatever the page's colour scheme."""
    code = segno.make(url, error="m")
    # segno writes only the encoded modules and our fixed title: no user text reaches the markup.
    svg = code.svg_inline(
        scale=4, dark="#000", light="#fff", title="QR code of the share link", svgclass="qr"
    )
    return markupsafe.Markup(svg.replace("<svg ", '<svg role="img" ', 1))
