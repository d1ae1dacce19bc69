"""Who is asking: the client's address, as told by a proxy drop trusts."""

from __future__ import annotations

import ipaddress
import unicodedata

import falcon


def client_address(req: falcon.Request, trusted_proxies: tuple[str, ...]) -> str:
    """The address of the client behind a trusted proxy, or of the peer itself.

    nginx sets X-Real-IP to the address it saw; a client talking to gunicorn directly
    could send the header too, so it counts only when the peer is a trusted proxy.
    """
    peer = req.remote_addr or "unknown"
    forwarded = (req.get_header("X-Real-IP") or "").strip()
    if forwarded and _is_trusted(peer, trusted_proxies) and _is_address(forwarded):
        return forwarded
    return peer


def _is_trusted(peer: str, trusted_proxies: tuple[str, ...]) -> bool:
    if "*" in trusted_proxies:
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def header_text(req: falcon.Request, name: str) -> str | None:
    """A header's value as the client typed it. WSGI hands headers over decoded as Latin-1,
    and a terminal sends UTF-8: a password sent in a header must match the one typed into
    the page."""
    value = req.get_header(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def user_agent(req: falcon.Request, max_chars: int) -> str | None:
    """The client's User-Agent as text fit to show an operator: no control characters
    (a terminal escape, a newline that forges a line), at most `max_chars` long, None
    when absent or empty."""
    raw = header_text(req, "User-Agent") or ""
    text = "".join(c for c in raw if unicodedata.category(c) != "Cc").strip()
    return text[:max_chars] or None
