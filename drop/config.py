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
# The 4XX cache holds (cacheable requests per TTL) entries: the TTL is its memory bound.
MAX_4XX_CACHE_TTL = 3600
# An abandoned tus upload holds its partial bytes on disk this long at most.
MAX_UPLOAD_EXPIRES_IN = 30 * DAY


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
    # Operator tools (drop-ops and the /ops dashboard).
    admin_token: str | None = field(default=None, repr=False)  # None: /ops answers 404
    secret_key: str | None = field(default=None, repr=False)  # None: derived from admin_token
    admin_session_idle: int = 30 * 60
    admin_session_max: int = 12 * 60 * 60  # a session ends this long after login, active or not
    purge_retention: int = 7 * DAY
    audit_retention: int = 90 * DAY  # operator actions (drop/ops/audit.py) are kept this long
    worker_stale_seconds: int = 3 * 60
    min_free_bytes: int = 1024 * MIB
    log_format: str = "text"
    # Proxies allowed to speak for the client (X-Forwarded-*, X-Real-IP): gunicorn and the
    # limits (drop/limits.py) both trust these and nobody else.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Slow clients (drop.serving): the request head must arrive within header_timeout;
    # a body or a response may stall for client_timeout at most; an upload must keep
    # min_upload_rate bytes a second on average after its first client_timeout seconds.
    header_timeout: int = 10
    client_timeout: int = 30
    min_upload_rate: int = 4096
    # Password guessing (drop/limits.py): wrong passwords per drop and per client address
    # before a lock of `base` seconds, doubling with each further one up to `cap`.
    password_attempts: int = 5
    password_backoff_base: int = 1
    password_backoff_cap: int = 900
    # Upload floods, per client address (0: no limit).
    uploads_per_hour: int = 100
    upload_bytes_per_hour: int = 10 * GIB
    # How long a drop remembers its uploader's address and User-Agent (0: never stored).
    uploader_retention: int = 7 * DAY
    # The page's resumable uploads send the file in requests of this size: below any
    # proxy's body cap (Cloudflare's is 100 MB), large enough to keep requests few.
    upload_chunk_bytes: int = 8 * MIB
    # How long an unfinished tus upload (drop/tus.py) waits for its next chunk.
    upload_expires_in: int = DAY

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
                ACCEL_DELETE_GRACE_SECONDS if env.get("DROP_ACCEL_REDIRECT") else 0,
            ),
            accel_redirect=(env.get("DROP_ACCEL_REDIRECT") or "").rstrip("/") or None,
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
            upload_chunk_bytes=_positive_int(env, "DROP_UPLOAD_CHUNK_BYTES", 8 * MIB),
            upload_expires_in=_positive_int(env, "DROP_UPLOAD_EXPIRES_IN", DAY),
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
        if self.upload_expires_in > MAX_UPLOAD_EXPIRES_IN:
            raise ConfigError(
                f"DROP_UPLOAD_EXPIRES_IN must be at most {MAX_UPLOAD_EXPIRES_IN} seconds (30 days)"
            )
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"DROP_LOG_FORMAT must be text or json, got {self.log_format!r}")


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
