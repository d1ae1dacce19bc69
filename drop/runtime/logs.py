"""Request ids and log lines: one line per request, text or JSON, never a secret.

The per-request line is gunicorn's access log (written once the body has been sent, so
it knows the bytes); this module gives it a request id and, with DROP_LOG_FORMAT=json,
a JSON shape. Passwords can travel in `?password=` and delete tokens in a header, so no
line ever carries a query string or a request header other than the User-Agent. A token
in a path is the download link itself: lines show its first 8 characters only.

gunicorn's own error lines quote the raw request line (a malformed request, an error in a
worker), so every handler, gunicorn's and drop's, runs each record through `redact`.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import secrets
import sys

import falcon
from gunicorn.glogging import Logger as GunicornLogger
from huey.api import PeriodicTask

REQUEST_ID_HEADER = "X-Request-Id"
# An id from the proxy (nginx's $request_id) is kept so both logs share it; anything
# else a client sends is replaced, so no log line carries arbitrary client text.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9_.-]{8,128}")

log = logging.getLogger("drop.request")

# A query string: from "?" to the next space or quote (a request line inside a message is
# quoted or followed by " HTTP/1.1"). A lone "?" ending a sentence is left alone.
_QUERY = re.compile(r"\?[^\s\"']+")
# A 32-hex token as a path segment (a download or delete link), not a request id.
_PATH_TOKEN = re.compile(r"(/[0-9a-f]{8})[0-9a-f]{24}(?![0-9A-Za-z])")
TOKEN_ELLIPSIS = "..."
# A secret header with its value, as a raw request quoted in a message shows it (gunicorn's
# debug line for a cut-off request prints the bytes it had; "\r\n" stays escaped there).
# A malformed header line may lack its colon ("Authorization Bearer …"): the name followed
# by blanks hides what follows just the same. A name starts a word or an escaped line.
_SECRET_HEADER = re.compile(
    r"(?:(?<![\w-])|(?<=\\[rn]))(x-drop-password|drop-password|x-delete-token|drop-delete-token|x-csrf-token|"
    r"cookie|authorization|if-range)(\s*:|[ \t]+(?=[^\s:]))[^\r\n\\]*",
    re.IGNORECASE,
)
# Request headers and environ entries whose values are secrets or carry the query.
_SECRET_ATOMS = re.compile(r"password|token|cookie|authorization|query|raw_uri", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` without query strings or secret header values, each token in a path cut to
    its first 8 characters."""
    text = _SECRET_HEADER.sub(_hidden_header_value, text)
    return _PATH_TOKEN.sub(r"\1" + TOKEN_ELLIPSIS, _QUERY.sub("", text))


def _hidden_header_value(match: re.Match) -> str:
    # "Name: -" with its colon, "Name -" without.
    return f"{match[1]}{match[2] if ':' in match[2] else ''} -"


class RedactSecrets(logging.Filter):
    """A handler filter: the record's message (and traceback) pass through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class RequestId:
    """Falcon middleware: every request gets an id, answered as X-Request-Id."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        incoming = req.get_header(REQUEST_ID_HEADER) or ""
        if _ACCEPTED_ID.fullmatch(incoming):
            req.context.request_id = incoming
        else:
            req.context.request_id = secrets.token_hex(16)

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        # Falcon refuses some requests before any process_request runs.
        if not hasattr(req.context, "request_id"):
            req.context.request_id = secrets.token_hex(16)
        resp.set_header(REQUEST_ID_HEADER, req.context.request_id)


def first_line(error: BaseException) -> str:
    """An error's first line, for a one-line message: a driver may quote the statement,
    values and all, below it. The error's type when it says nothing."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def log_unexpected_error(req: falcon.Request, resp, error: Exception, params) -> None:
    """Falcon's default handler logs the query string (a password may be in it); this one
    logs the path and the request id, then answers a plain 500."""
    log.error(
        "unhandled error in %s %s (request %s)",
        req.method,
        redact(req.path),
        getattr(req.context, "request_id", "-"),
        exc_info=error,
    )
    raise falcon.HTTPInternalServerError()


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            # RedactSecrets leaves the traceback, redacted, in exc_text.
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry)


class RoutinePeriodicTasksAtDebug(logging.Filter):
    """A handler filter: Huey's INFO lines about a periodic task are DEBUG lines.

    Each minute the consumer says it enqueued, is executing and executed the sweep and
    the heartbeat: six lines a minute from a worker with nothing to do. A periodic task
    that does something says so itself (drop.tasks logs what the sweep expired or
    deleted); Huey's warnings and errors, its start and stop, and its lines about tasks
    a request queued (a blob's deletion, a scan) keep their level.
    """

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.name.startswith("huey")
            and record.levelno == logging.INFO
            and isinstance(record.args, tuple)
            and any(isinstance(arg, PeriodicTask) for arg in record.args)
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.level <= logging.DEBUG
        return True


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Route drop's own loggers (and Huey's) to stderr as text or JSON lines; Huey's
    routine lines about periodic tasks are DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RoutinePeriodicTasksAtDebug(level))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


# Control characters in an access-log atom, shown escaped (\n as \x0a).
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(32), 127]}


class RedactedAtoms(dict):
    """gunicorn's access-log atoms, each redacted when a line reads it.

    gunicorn offers dozens of atoms a request (every request header, response header and
    environ entry) and a line uses a handful: redacting them all up front cost more CPU
    than the rest of a cached 404. A secret header or environ entry reads as "-", every
    other string passes through `redact`, with control characters escaped.
    """

    def __getitem__(self, name: str):
        if name == "r":  # the request line, from the redacted parts: never the query
            return f"{self['m']} {self['U']} {self['H']}"
        if name == "q":
            return "-"
        if name.startswith("{") and _SECRET_ATOMS.search(name):
            return "-"
        value = super().__getitem__(name)
        if isinstance(value, str):
            # A decoded %0A in a path must not start a forged line of its own.
            return redact(value).translate(_CONTROL_ESCAPES)
        return value

    def get(self, name: str, default=None):
        return self[name] if name in self else default  # noqa: SIM401 - this is self.get


class QuotedAtoms(RedactedAtoms):
    """gunicorn's SafeAtoms (names in braces case-insensitive, "-" for a missing atom,
    quotes escaped) over RedactedAtoms, so that wrapping them redacts nothing up front."""

    def __init__(self, atoms: dict):
        super().__init__(dict.items(atoms))  # the raw values: redacted when read

    def __getitem__(self, name: str):
        if name.startswith("{"):
            name = name.lower()
        if name not in self and name not in ("r", "q"):
            return "-"
        value = super().__getitem__(name)
        return value.replace('"', '\\"') if isinstance(value, str) else value


class RedactingLogger(GunicornLogger):
    """gunicorn's logger, with every line of both its logs passed through `redact`.

    The access log's atoms are redacted too (the path's token cut short; no query, no
    secret header), so even an operator's own `access_log_format` cannot print a secret.
    """

    atoms_wrapper_class = QuotedAtoms

    def setup(self, cfg):
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.addFilter(RedactSecrets())

    def atoms(self, resp, req, environ, request_time) -> RedactedAtoms:
        return RedactedAtoms(super().atoms(resp, req, environ, request_time))


class JsonAccessLogger(RedactingLogger):
    """gunicorn's logger with JSON lines for both its error log and its access log."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        self.access_log.info(json.dumps(access_entry(atoms)))


def access_entry(atoms: dict) -> dict:
    """The fields of one request's line, from gunicorn's log atoms (no query, no secrets)."""
    return {
        "time": _timestamp(datetime.datetime.now(datetime.UTC).timestamp()),
        "level": "info",
        "logger": "access",
        "request_id": atoms.get("{x-request-id}o", "-"),
        "remote": atoms["h"],
        "method": atoms["m"],
        "path": atoms["U"],
        "status": int(atoms["s"]),
        "bytes": _body_bytes(atoms),
        "duration_ms": atoms["M"],
        "user_agent": atoms["a"],
    }


def _body_bytes(atoms: dict) -> int:
    # gunicorn does not count a body it hands to sendfile() (every direct download);
    # such a body is sent whole, so its Content-Length is the count.
    if atoms["B"]:
        return atoms["B"]
    length = atoms.get("{content-length}o", "0")
    return int(length) if atoms["m"] != "HEAD" and length.isdigit() else 0


def _timestamp(epoch_seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch_seconds, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
