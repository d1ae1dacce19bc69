"""Uploaders' file names: made safe to store and to echo back, never used as a path."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_NAME_CHARS = 255
FALLBACK_NAME = "file"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MAX_CONTENT_TYPE_CHARS = 255  # the database column's width
# RFC 7231 section 3.1.1.1: type "/" subtype *( OWS ";" OWS token "=" ( token / quoted-string ) ),
# narrowed to printable ASCII (no tab, no obs-text), so the value is always a valid header.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[ !#-\[\]-~]|\\[ -~])*"'
_REMOVED = frozenset({"Cc", "Cf", "Zl", "Zp"})
_CONTENT_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?: *; *{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*")


def sanitize_filename(raw: str | None) -> str:
    """Keep the last path component, drop control, format and line-separator characters, cap
    the length at 255."""
    if not raw:
        return FALLBACK_NAME
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]
    # Cs: the lone surrogates left by bad UTF-8.
    name = "".join("\ufffd" if unicodedata.category(c) == "Cs" else c for c in name)
    # Cc: NUL and the other control bytes. Cf: invisible format characters, among them the
    # bidi overrides that make "invoice\u202efdp.exe" display as "invoiceexe.pdf". Zl and Zp
    # (U+2028, U+2029): line breaks to JavaScript, editors and log readers, which would
    # split a name over two lines wherever it is shown.
    name = "".join(c for c in name if unicodedata.category(c) not in _REMOVED).strip()
    if name in ("", ".", ".."):
        return FALLBACK_NAME
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_NAME_CHARS - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME_CHARS]
    return name


def sanitize_content_type(raw: str | None) -> str:
    """A well-formed media type as sent, or application/octet-stream for anything else."""
    value = (raw or "").strip(" ")
    if len(value) <= MAX_CONTENT_TYPE_CHARS and _CONTENT_TYPE.fullmatch(value):
        return value
    return DEFAULT_CONTENT_TYPE


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback in filename=, the exact UTF-8 name in filename*=."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = re.sub(r"[^A-Za-z0-9 ._()\[\]-]", "_", fallback).strip() or FALLBACK_NAME
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
