"""Every DROP_* setting, read from the environment in one place with its default beside it."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

MIB = 1024 * 1024
GIB = 1024 * MIB
DAY = 24 * 60 * 60
MIN_ADMIN_TOKEN_CHARS = 16
MIN_SECRET_KEY_CHARS = 32
# With X-Accel-Redirect, nginx opens the blob only after drop's answer reaches it; a
# one-time drop's blob must outlive that moment by a wide margin.
ACCEL_DELETE_GRACE_SECONDS = 60
LOG_FORMATS = ("text", "json")
STORAGE_BACKENDS = ("local", "s3")
S3_ADDRESSING_STYLES = ("path", "virtual")
# A one-time drop's blob outlives its last download by the resume window: at most a day.
MAX_RESUME_WINDOW = DAY
# Malware scanning (drop/protection/scans.py): `hold` serves a drop once clamd called it clean,
# `after` serves at once and revokes it on a hit.
SCAN_MODES = ("hold", "after")
# A file larger than DROP_SCAN_MAX_BYTES (clamd's StreamMaxLength) cannot be scanned:
# `serve` stores it unscanned, `refuse` answers its upload with 413.
SCAN_TOO_LARGE_CHOICES = ("serve", "refuse")
# What a hit does with the blob: move it to DROP_DATA_DIR/quarantine (on S3, to the
# quarantine/ prefix below DROP_S3_PREFIX), or delete it.
SCAN_QUARANTINE_CHOICES = ("keep", "delete")
# Debian's clamd.conf sets StreamMaxLength 25M (clamd's own default is 100M).
DEFAULT_SCAN_MAX_BYTES = 25 * 1024 * 1024
# ClamAV cannot scan a file of 2 GiB or more, and INSTREAM counts in 32-bit lengths.
MAX_SCAN_MAX_BYTES = 2 * 1024 * 1024 * 1024 - 1
# The 4XX cache holds (cacheable requests per TTL) entries: the TTL is its memory bound.
MAX_4XX_CACHE_TTL = 3600
# An abandoned tus upload holds its partial bytes on disk this long at most.
MAX_UPLOAD_EXPIRES_IN = 30 * DAY
# Counts for the dashboard's charts wait in each web process this long at most; a crash
# loses them.
MAX_STATS_FLUSH_SECONDS = 300
# Reconciliation runs every N hours from midnight UTC (0: never on its own): N divides the
# day, so runs stay evenly spaced.
RECONCILE_HOURS = (0, 1, 2, 3, 4, 6, 8, 12, 24)


class ConfigError(ValueError):
    """A setting has a value drop cannot run with; the message names the variable."""


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: an SQLite file inside data_dir
    redis_url: str | None = None  # None: embedded mode (SQLite-backed Huey, no 4XX cache)
    max_upload_bytes: int = 16 * MIB
    default_expires_in: int = DAY
    max_expires_in: int = 7 * DAY
    max_downloads: int = 100
    base_url: str | None = None  # None: taken from each request
    error_cache_ttl: int = 300
    redis_breaker_seconds: int = 5  # how long requests skip Redis after it failed a few times
    delete_grace_seconds: int = 0
    accel_redirect: str | None = None
    # A granted download may be resumed (Range + If-Range with its ETag) for this long
    # without using another download (drop/drops/grants.py); 0: no resumes.
    resume_window: int = 60 * 60
    # Operator tools (drop-ops and the /ops dashboard).
    admin_token: str | None = field(default=None, repr=False)  # None: /ops answers 404
    secret_key: str | None = field(default=None, repr=False)  # None: derived from admin_token
    admin_session_idle: int = 30 * 60
    admin_session_max: int = 12 * 60 * 60  # a session ends this long after login, active or not
    purge_retention: int = 7 * DAY
    # Operator actions (drop/protection/audit.py) are kept this long.
    audit_retention: int = 90 * DAY
    worker_stale_seconds: int = 3 * 60
    min_free_bytes: int = 1024 * MIB
    log_format: str = "text"
    # Proxies allowed to speak for the client (X-Forwarded-*, X-Real-IP): gunicorn and the
    # limits (drop/protection/limits.py) both trust these and nobody else.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Slow clients (drop.runtime.serving): the request head must arrive within header_timeout;
    # a body or a response may stall for client_timeout at most; an upload must keep
    # min_upload_rate bytes a second on average after its first client_timeout seconds.
    header_timeout: int = 10
    client_timeout: int = 30
    min_upload_rate: int = 4096
    # Password guessing (drop/protection/limits.py): wrong passwords per drop and per client address
    # before a lock of `base` seconds, doubling with each further one up to `cap`.
    password_attempts: int = 5
    password_backoff_base: int = 1
    password_backoff_cap: int = 900
    # Upload floods, per client address (0: no limit).
    uploads_per_hour: int = 100
    upload_bytes_per_hour: int = 10 * GIB
    # How long a drop remembers its uploader's address and User-Agent (0: never stored).
    uploader_retention: int = 7 * DAY
    # Where blobs live (drop/storage/): "local" (data_dir/blobs) or "s3" (a bucket shared by
    # every node). S3 credentials come from boto3's chain (AWS_ACCESS_KEY_ID, ...).
    storage: str = "local"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # None: AWS
    s3_region: str | None = None
    s3_prefix: str = ""
    s3_addressing_style: str = "path"
    # With X-Accel-Redirect on S3: nginx proxies a presigned URL (None), or drop answers
    # 302 to it ("presigned", for a CDN in front of the bucket).
    s3_redirect: str | None = None

    # The page's resumable uploads send the file in requests of this size: below any
    # proxy's body cap (Cloudflare's is 100 MB), large enough to keep requests few.
    upload_chunk_bytes: int = 8 * MIB
    # How long an unfinished tus upload (drop/tus/records.py) waits for its next chunk.
    upload_expires_in: int = DAY
    # Seconds between the writes of each web process's hourly counts (drop/ops/hourly_counts.py).
    stats_flush_seconds: int = 5
    # Where abuse is reported (a mailto:, https: or tel: URI): the public pages' footer and
    # /.well-known/security.txt show it; None: neither does.
    abuse_contact: str | None = None
    # False: only trusted uploaders (an API token, drop/protection/uploaders.py) may upload.
    anonymous_uploads: bool = True
    # Malware scanning with clamd (drop/protection/scans.py): off unless a socket or host is set.
    clamd_socket: str | None = None  # a unix socket path
    clamd_host: str | None = None  # host:port
    scan_mode: str = "hold"
    scan_max_bytes: int = DEFAULT_SCAN_MAX_BYTES
    scan_too_large: str = "serve"
    scan_quarantine: str = "keep"
    scan_timeout: int = 60  # seconds clamd may take to answer one scan
    scan_retry_delay: int = 30  # before a failed scan's first retry; doubles with each one
    scan_requeue_seconds: int = 15 * 60  # a scan pending this long is queued again

    # How often the worker walks storage against the database (drop.ops.purge.reconcile):
    # orphan blobs and stale temp files go; 0 leaves it to `drop-ops purge`.
    reconcile_hours: int = 1

    @property
    def scanning(self) -> bool:
        """Whether uploads are scanned for malware."""
        return bool(self.clamd_socket or self.clamd_host)

    @property
    def scan_holds(self) -> bool:
        """Whether a drop waits for a clean scan before it is served."""
        return self.scanning and self.scan_mode == "hold"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'drop.sqlite3').resolve()}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        """Build the config from DROP_* variables, raising ConfigError on the first bad one."""
        env = os.environ if environ is None else environ
        config = cls(
            data_dir=Path(env.get("DROP_DATA_DIR", "var")),
            database_url=env.get("DROP_DATABASE_URL", ""),
            redis_url=env.get("DROP_REDIS_URL") or None,
            max_upload_bytes=_positive_int(env, "DROP_MAX_UPLOAD_BYTES", 16 * MIB),
            default_expires_in=_positive_int(env, "DROP_DEFAULT_EXPIRES_IN", DAY),
            max_expires_in=_positive_int(env, "DROP_MAX_EXPIRES_IN", 7 * DAY),
            max_downloads=_positive_int(env, "DROP_MAX_DOWNLOADS", 100),
            base_url=(env.get("DROP_BASE_URL") or "").rstrip("/") or None,
            error_cache_ttl=_positive_int(env, "DROP_4XX_CACHE_TTL", 300),
            redis_breaker_seconds=_positive_int(env, "DROP_REDIS_BREAKER_SECONDS", 5),
            delete_grace_seconds=_non_negative_int(
                env,
                "DROP_DELETE_GRACE_SECONDS",
                # A proxy (or, with DROP_S3_REDIRECT, a client) opens the blob after drop
                # has answered: a one-time drop's blob must outlive that moment.
                ACCEL_DELETE_GRACE_SECONDS
                if env.get("DROP_ACCEL_REDIRECT") or env.get("DROP_S3_REDIRECT")
                else 0,
            ),
            accel_redirect=(env.get("DROP_ACCEL_REDIRECT") or "").rstrip("/") or None,
            resume_window=_non_negative_int(env, "DROP_RESUME_WINDOW", 60 * 60),
            admin_token=env.get("DROP_ADMIN_TOKEN") or None,
            secret_key=env.get("DROP_SECRET_KEY") or None,
            admin_session_idle=_positive_int(env, "DROP_ADMIN_SESSION_IDLE", 30 * 60),
            admin_session_max=_positive_int(env, "DROP_ADMIN_SESSION_MAX", 12 * 60 * 60),
            purge_retention=_non_negative_int(env, "DROP_PURGE_RETENTION", 7 * DAY),
            audit_retention=_positive_int(env, "DROP_AUDIT_RETENTION", 90 * DAY),
            worker_stale_seconds=_positive_int(env, "DROP_WORKER_STALE_SECONDS", 3 * 60),
            min_free_bytes=_non_negative_int(env, "DROP_MIN_FREE_BYTES", 1024 * MIB),
            log_format=(env.get("DROP_LOG_FORMAT") or "text").strip().lower(),
            trusted_proxies=_address_list(env, "DROP_TRUSTED_PROXIES", ("127.0.0.1", "::1")),
            header_timeout=_positive_int(env, "DROP_HEADER_TIMEOUT", 10),
            client_timeout=_positive_int(env, "DROP_CLIENT_TIMEOUT", 30),
            min_upload_rate=_non_negative_int(env, "DROP_MIN_UPLOAD_RATE", 4096),
            password_attempts=_positive_int(env, "DROP_PASSWORD_ATTEMPTS", 5),
            password_backoff_base=_positive_int(env, "DROP_PASSWORD_BACKOFF_BASE", 1),
            password_backoff_cap=_positive_int(env, "DROP_PASSWORD_BACKOFF_CAP", 900),
            uploads_per_hour=_non_negative_int(env, "DROP_UPLOADS_PER_HOUR", 100),
            upload_bytes_per_hour=_non_negative_int(env, "DROP_UPLOAD_BYTES_PER_HOUR", 10 * GIB),
            uploader_retention=_non_negative_int(env, "DROP_UPLOADER_RETENTION", 7 * DAY),
            storage=(env.get("DROP_STORAGE") or "local").strip().lower(),
            s3_bucket=(env.get("DROP_S3_BUCKET") or "").strip() or None,
            s3_endpoint_url=(env.get("DROP_S3_ENDPOINT_URL") or "").strip().rstrip("/") or None,
            s3_region=(env.get("DROP_S3_REGION") or "").strip() or None,
            s3_prefix=_s3_prefix(env.get("DROP_S3_PREFIX") or ""),
            s3_addressing_style=(env.get("DROP_S3_ADDRESSING_STYLE") or "path").strip().lower(),
            s3_redirect=(env.get("DROP_S3_REDIRECT") or "").strip().lower() or None,
            upload_chunk_bytes=_positive_int(env, "DROP_UPLOAD_CHUNK_BYTES", 8 * MIB),
            upload_expires_in=_positive_int(env, "DROP_UPLOAD_EXPIRES_IN", DAY),
            stats_flush_seconds=_positive_int(env, "DROP_STATS_FLUSH_SECONDS", 5),
            abuse_contact=_contact_uri(env, "DROP_ABUSE_CONTACT"),
            anonymous_uploads=_switch(env, "DROP_ANONYMOUS_UPLOADS", True),
            clamd_socket=(env.get("DROP_CLAMD_SOCKET") or "").strip() or None,
            clamd_host=(env.get("DROP_CLAMD_HOST") or "").strip() or None,
            scan_mode=_choice(env, "DROP_SCAN_MODE", SCAN_MODES),
            scan_max_bytes=_positive_int(env, "DROP_SCAN_MAX_BYTES", DEFAULT_SCAN_MAX_BYTES),
            scan_too_large=_choice(env, "DROP_SCAN_TOO_LARGE", SCAN_TOO_LARGE_CHOICES),
            scan_quarantine=_choice(env, "DROP_SCAN_QUARANTINE", SCAN_QUARANTINE_CHOICES),
            scan_timeout=_positive_int(env, "DROP_SCAN_TIMEOUT", 60),
            scan_retry_delay=_positive_int(env, "DROP_SCAN_RETRY_DELAY", 30),
            scan_requeue_seconds=_positive_int(env, "DROP_SCAN_REQUEUE_SECONDS", 15 * 60),
            reconcile_hours=_non_negative_int(env, "DROP_RECONCILE_HOURS", 1),
        )
        config.validate()
        return config

    def validate(self) -> None:
        if self.default_expires_in > self.max_expires_in:
            raise ConfigError(
                "DROP_DEFAULT_EXPIRES_IN must not exceed DROP_MAX_EXPIRES_IN "
                f"({self.default_expires_in} > {self.max_expires_in})"
            )
        scheme = urlparse(self.effective_database_url).scheme
        if scheme not in ("sqlite", "postgres", "postgresql"):
            raise ConfigError(
                f"DROP_DATABASE_URL must start with sqlite:// or postgresql://, got {scheme!r}"
            )
        if self.redis_url and urlparse(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError("DROP_REDIS_URL must be a redis:// or rediss:// URL")
        if self.base_url and urlparse(self.base_url).scheme not in ("http", "https"):
            raise ConfigError("DROP_BASE_URL must be an http:// or https:// URL")
        if self.accel_redirect and not self.accel_redirect.startswith("/"):
            raise ConfigError("DROP_ACCEL_REDIRECT must be a location path starting with /")
        # The admin token is the only thing between the internet and the dashboard.
        if self.admin_token is not None and len(self.admin_token) < MIN_ADMIN_TOKEN_CHARS:
            raise ConfigError(
                f"DROP_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters long"
            )
        if self.resume_window > MAX_RESUME_WINDOW:
            raise ConfigError(f"DROP_RESUME_WINDOW must be at most {MAX_RESUME_WINDOW} seconds")
        if self.error_cache_ttl > MAX_4XX_CACHE_TTL:
            raise ConfigError(f"DROP_4XX_CACHE_TTL must be at most {MAX_4XX_CACHE_TTL} seconds")
        # The key signs every dashboard session: it must not be guessable.
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            raise ConfigError(
                f"DROP_SECRET_KEY must be at least {MIN_SECRET_KEY_CHARS} characters long"
            )
        if self.password_backoff_base > self.password_backoff_cap:
            raise ConfigError(
                "DROP_PASSWORD_BACKOFF_BASE must not exceed DROP_PASSWORD_BACKOFF_CAP "
                f"({self.password_backoff_base} > {self.password_backoff_cap})"
            )
        if self.storage not in STORAGE_BACKENDS:
            raise ConfigError(f"DROP_STORAGE must be local or s3, got {self.storage!r}")
        if self.storage == "s3" and not self.s3_bucket:
            raise ConfigError("DROP_S3_BUCKET must name the bucket when DROP_STORAGE is s3")
        if self.s3_endpoint_url and urlparse(self.s3_endpoint_url).scheme not in (
            "http",
            "https",
        ):
            raise ConfigError("DROP_S3_ENDPOINT_URL must be an http:// or https:// URL")
        if self.s3_addressing_style not in S3_ADDRESSING_STYLES:
            raise ConfigError(
                "DROP_S3_ADDRESSING_STYLE must be path or virtual, "
                f"got {self.s3_addressing_style!r}"
            )
        if self.s3_redirect not in (None, "presigned"):
            raise ConfigError(
                f"DROP_S3_REDIRECT must be presigned or empty, got {self.s3_redirect!r}"
            )
        if self.upload_expires_in > MAX_UPLOAD_EXPIRES_IN:
            raise ConfigError(
                f"DROP_UPLOAD_EXPIRES_IN must be at most {MAX_UPLOAD_EXPIRES_IN} seconds (30 days)"
            )
        if self.stats_flush_seconds > MAX_STATS_FLUSH_SECONDS:
            raise ConfigError(
                f"DROP_STATS_FLUSH_SECONDS must be at most {MAX_STATS_FLUSH_SECONDS} seconds"
            )
        if self.clamd_socket and self.clamd_host:
            raise ConfigError("set DROP_CLAMD_SOCKET or DROP_CLAMD_HOST, not both")
        if self.clamd_host and parse_host_port(self.clamd_host) is None:
            raise ConfigError(
                f"DROP_CLAMD_HOST must be host:port, e.g. 127.0.0.1:3310, got {self.clamd_host!r}"
            )
        if self.scan_max_bytes > MAX_SCAN_MAX_BYTES:
            raise ConfigError(
                f"DROP_SCAN_MAX_BYTES must be at most {MAX_SCAN_MAX_BYTES} (ClamAV scans "
                "nothing of 2 GiB or more)"
            )
        if self.scan_timeout > 3600:
            raise ConfigError("DROP_SCAN_TIMEOUT must be at most 3600 seconds")
        if self.scan_retry_delay > 3600:
            raise ConfigError("DROP_SCAN_RETRY_DELAY must be at most 3600 seconds")
        if self.scan_requeue_seconds < 60 or self.scan_requeue_seconds > 7 * DAY:
            raise ConfigError(
                "DROP_SCAN_REQUEUE_SECONDS must be from 60 (the sweep runs each minute) "
                f"to {7 * DAY} seconds"
            )
        if self.reconcile_hours not in RECONCILE_HOURS:
            raise ConfigError(
                "DROP_RECONCILE_HOURS must be 0 or a number of hours that divides a day "
                f"(1, 2, 3, 4, 6, 8, 12 or 24), got {self.reconcile_hours}"
            )
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"DROP_LOG_FORMAT must be text or json, got {self.log_format!r}")


def _s3_prefix(raw: str) -> str:
    """ "drop" and "/drop/" both become "drop/": keys are "<prefix>ab/<token>"."""
    prefix = raw.strip().strip("/")
    return f"{prefix}/" if prefix else ""


CONTACT_SCHEMES = ("mailto:", "https://", "tel:")
MAX_CONTACT_CHARS = 254


def _contact_uri(env, name: str) -> str | None:
    """A contact as RFC 9116 wants it, a URI: a bare e-mail address becomes a mailto: one."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if "@" in raw and ":" not in raw:
        raw = "mailto:" + raw
    if (
        not raw.lower().startswith(CONTACT_SCHEMES)
        or len(raw) > MAX_CONTACT_CHARS
        or not raw.isascii()
        or any(c.isspace() or not c.isprintable() for c in raw)
    ):
        raise ConfigError(
            f"{name} must be an e-mail address or a mailto:, https:// or tel: URI, got {raw!r}"
        )
    return raw


def parse_host_port(value: str) -> tuple[str, int] | None:
    """`host:port` (`[::1]:3310` for IPv6) as a pair, or None when it is not one."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def _choice(env, name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first is the default), case-insensitive."""
    value = (env.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be {' or '.join(choices)}, got {value!r}")
    return value


def _address_list(env, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    entries = tuple(entry.strip() for entry in raw.split(",") if entry.strip())
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"{name} must list IP addresses or networks separated by commas, got {entry!r}"
            ) from None
    return entries


SWITCH_VALUES = {"on": True, "true": True, "yes": True, "1": True}
SWITCH_VALUES |= {"off": False, "false": False, "no": False, "0": False}


def _switch(env, name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in SWITCH_VALUES:
        raise ConfigError(f"{name} must be on or off, got {raw!r}")
    return SWITCH_VALUES[raw]


def _positive_int(env, name: str, default: int) -> int:
    value = _int(env, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be a positive whole number, got {value}")
    return value


def _non_negative_int(env, name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 0:
        raise ConfigError(f"{name} must be zero or a positive whole number, got {value}")
    return value


def _int(env, name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
