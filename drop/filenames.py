"""Uploaders' file names: made safe to store and to echo back, never used as a path."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_NAME_CHARS = 255
FALLBACK_NAME = "file"
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*(\s*;\s*[\w.+-]+=[\w.+\"-]+)*")


def sanitize_filename(raw: str | None) -> str:
    """Keep the last path component, drop control and format characters, cap the length at 255."""
    if not raw:
        return FALLBACK_NAME
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]
    # Cs: the lone surrogates left by bad UTF-8.
    name = "".join("\ufffd" if unicodedata.category(c) == "Cs" else c for c in name)
    # Cc: NUL and the other control bytes. Cf: invisible format characters, among them the
    # bidi overrides that make "invoice\u202efdp.exe" display as "invoiceexe.pdf".
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf")).strip()
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
    if raw and len(raw) <= 255 and _CONTENT_TYPE.fullmatch(raw.strip()):
        return raw.strip()
    return "application/octet-stream"


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback in filename=, the exact UTF-8 name in filename*=."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = re.sub(r"[^A-Za-z0-9 ._()\[\]-]", "_", fallback).strip() or FALLBACK_NAME
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
