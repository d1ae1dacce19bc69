"""What each setting means, for the generated configuration reference.

The defaults are not written here: the page takes them from `Config.from_env({})`, and
`drop_reference.settings_problems` checks this table against the variables drop really
reads (every `env` lookup of `Config.from_env`, every `os.environ` read and `envvar=`
in the package and in ops/). A variable added to the code without a line here, or a
line left behind by a removed one, fails the docs build and tests/test_docs.py.

Each entry: variable -> (the `Config` field it fills, or None for a process setting
read outside `Config`; its unit for the default, "bytes", "seconds" or ""; its meaning
in MyST Markdown; for a process setting, its default in words).
"""

from __future__ import annotations

GROUPS: dict[str, dict[str, tuple]] = {
    "Where drop keeps things": {
        "DROP_DATA_DIR": (
            "data_dir",
            "",
            "Blobs (`blobs/`), uploads in progress (`tmp/`, resumable ones in `uploads/`), "
            "the SQLite files, the worker's heartbeat and the generated `secret_key`.",
        ),
        "DROP_DATABASE_URL": (
            "database_url",
            "",
            "Unset: an SQLite file `drop.sqlite3` in the data dir. "
            "Or `postgresql://user:password@host:5432/dbname`.",
        ),
        "DROP_REDIS_URL": (
            "redis_url",
            "",
            "Unset: embedded mode (the queue in SQLite, each process its own 4XX cache). "
            "`redis://host:6379/0`: the Huey broker, the shared 4XX cache and the limits' "
            "counters.",
        ),
        "DROP_STORAGE": (
            "storage",
            "",
            "Where blobs live: `local` (`DROP_DATA_DIR/blobs`) or `s3`, a bucket every web "
            "node and worker shares (see {doc}`../scale-out`).",
        ),
        "DROP_S3_BUCKET": ("s3_bucket", "", "The bucket; required with `DROP_STORAGE=s3`."),
        "DROP_S3_ENDPOINT_URL": (
            "s3_endpoint_url",
            "",
            "The store's S3 endpoint, e.g. `http://127.0.0.1:8333` (SeaweedFS); unset: AWS.",
        ),
        "DROP_S3_REGION": (
            "s3_region",
            "",
            "The bucket's region (SigV4 signs it; most other stores take `us-east-1`).",
        ),
        "DROP_S3_PREFIX": (
            "s3_prefix",
            "",
            "Keys start with this (`drop` gives `drop/ab/<token>`), so a bucket can be shared.",
        ),
        "DROP_S3_ADDRESSING_STYLE": (
            "s3_addressing_style",
            "",
            "`path` (`endpoint/bucket/key`) or `virtual` (`bucket.endpoint/key`).",
        ),
        "DROP_S3_REDIRECT": (
            "s3_redirect",
            "",
            "`presigned`: answer downloads with a 302 to a presigned URL, for a CDN "
            "(see {doc}`../scale-out`).",
        ),
        "PROMETHEUS_MULTIPROC_DIR": (
            None,
            "",
            "Where web and worker processes keep metrics samples (memory-mapped files: a "
            "process growing one on a full disk dies of `SIGBUS`, so put it on another "
            "filesystem, e.g. a tmpfs, if the data disk may fill up).",
            "`DROP_DATA_DIR/metrics`",
        ),
    },
    "Files and links": {
        "DROP_BASE_URL": (
            "base_url",
            "",
            "Public origin for links, e.g. `https://drop.example.org`; unset: taken from "
            "each request.",
        ),
        "DROP_MAX_UPLOAD_BYTES": ("max_upload_bytes", "bytes", "Largest file accepted."),
        "DROP_DEFAULT_EXPIRES_IN": (
            "default_expires_in",
            "seconds",
            "Expiry when the uploader names none.",
        ),
        "DROP_MAX_EXPIRES_IN": (
            "max_expires_in",
            "seconds",
            "Longest expiry an uploader may ask for.",
        ),
        "DROP_MAX_DOWNLOADS": (
            "max_downloads",
            "",
            "Most downloads an uploader may allow for one file.",
        ),
        "DROP_RESUME_WINDOW": (
            "resume_window",
            "seconds",
            "How long after a download is granted it can be resumed (`Range` + `If-Range` "
            "with its ETag) without using another, if it was cut: a completed download "
            "deletes a used-up drop's blob at once. Behind nginx (`DROP_ACCEL_REDIRECT`) or "
            "with `DROP_S3_REDIRECT`, where drop cannot see completion, a used-up drop keeps "
            "its blob this much longer. At most `86400`; `0`: no resumes.",
        ),
        "DROP_UPLOAD_CHUNK_BYTES": (
            "upload_chunk_bytes",
            "bytes",
            "Size of each request the web page's resumable uploads send; keep it under any "
            "proxy's body limit.",
        ),
        "DROP_UPLOAD_EXPIRES_IN": (
            "upload_expires_in",
            "seconds",
            "How long an unfinished resumable (tus) upload keeps its bytes after its last "
            "chunk; at most 30 days.",
        ),
        "DROP_ANONYMOUS_UPLOADS": (
            "anonymous_uploads",
            "",
            "`off`: only trusted uploaders with an API token may upload; anyone else gets `401`.",
        ),
        "DROP_UPLOADER_RETENTION": (
            "uploader_retention",
            "seconds",
            "How long each drop keeps its uploader's address and User-Agent (shown only on "
            "`/ops`) before the sweep erases them; `0`: never stored.",
        ),
        "DROP_ABUSE_CONTACT": (
            "abuse_contact",
            "",
            "Where to report abuse: an e-mail address, or a `mailto:`, `https://` or `tel:` "
            "URI; shown in the pages' footer and served as `/.well-known/security.txt` "
            "(404 while unset).",
        ),
    },
    "Limits": {
        "DROP_PASSWORD_ATTEMPTS": (
            "password_attempts",
            "",
            "Wrong passwords per drop, and per client address, before its password answers `429`.",
        ),
        "DROP_PASSWORD_BACKOFF_BASE": (
            "password_backoff_base",
            "seconds",
            "How long the first lock lasts; each further wrong password doubles it.",
        ),
        "DROP_PASSWORD_BACKOFF_CAP": ("password_backoff_cap", "seconds", "Longest lock."),
        "DROP_UPLOADS_PER_HOUR": (
            "uploads_per_hour",
            "",
            "Uploads one client address may store per hour; `0`: no limit.",
        ),
        "DROP_UPLOAD_BYTES_PER_HOUR": (
            "upload_bytes_per_hour",
            "bytes",
            "Bytes one client address may store per hour; `0`: no limit.",
        ),
        "DROP_MIN_FREE_BYTES": (
            "min_free_bytes",
            "bytes",
            "Free space the data dir keeps: below it uploads get `507`, `/readyz` answers "
            "`503` and `drop-ops check` fails; downloads go on. `0`: no floor.",
        ),
        "DROP_TRUSTED_PROXIES": (
            "trusted_proxies",
            "",
            "Addresses or networks allowed to set `X-Forwarded-*` and `X-Real-IP` (the "
            "client address the limits count), comma-separated.",
        ),
    },
    "Serving": {
        "DROP_BIND": (
            None,
            "",
            "Address `drop-ops serve` (gunicorn) listens on; `drop-ops nginx-conf` points "
            "nginx at it.",
            "`127.0.0.1:8000`",
        ),
        "DROP_WEB_WORKERS": (
            None,
            "",
            "gunicorn worker processes.",
            "one per core, at least two",
        ),
        "DROP_WEB_THREADS": (
            None,
            "",
            "Request threads in each worker process.",
            "`64`",
        ),
        "DROP_HEADER_TIMEOUT": (
            "header_timeout",
            "seconds",
            "Time a client has to send its whole request line and headers.",
        ),
        "DROP_CLIENT_TIMEOUT": (
            "client_timeout",
            "seconds",
            "Longest silence from a client sending a body or reading an answer.",
        ),
        "DROP_MIN_UPLOAD_RATE": (
            "min_upload_rate",
            "",
            "Bytes a second an upload must average once its first `DROP_CLIENT_TIMEOUT` "
            "seconds are over; `0`: no minimum.",
        ),
        "DROP_ACCEL_REDIRECT": (
            "accel_redirect",
            "",
            "Internal nginx location, e.g. `/_drop_blobs`: nginx sends the bytes of "
            "downloads (see {doc}`../deploy`).",
        ),
        "DROP_DELETE_GRACE_SECONDS": (
            "delete_grace_seconds",
            "seconds",
            "Delay before a used-up drop's blob is deleted; the default is `60` when "
            "`DROP_ACCEL_REDIRECT` or `DROP_S3_REDIRECT` is set (the proxy or the client "
            "opens the blob after drop has answered).",
        ),
        "DROP_4XX_CACHE_TTL": (
            "error_cache_ttl",
            "seconds",
            "How long a 404/405/410 answer stays cached; at most `3600`.",
        ),
        "DROP_REDIS_BREAKER_SECONDS": (
            "redis_breaker_seconds",
            "seconds",
            "After 3 failed Redis calls in a row, each web process skips Redis this long.",
        ),
        "DROP_LOG_FORMAT": ("log_format", "", "`json`: one JSON object per log line."),
        "DROP_STATS_FLUSH_SECONDS": (
            "stats_flush_seconds",
            "seconds",
            "How often each web process writes its counts for the dashboard's charts; "
            "`1` to `300`. A crash loses at most this many seconds of counts.",
        ),
    },
    "Operators and the worker": {
        "DROP_ADMIN_TOKEN": (
            "admin_token",
            "",
            "Token that logs in to the dashboard at `/ops`, at least 16 characters; unset: "
            "no dashboard (`/ops` is 404).",
        ),
        "DROP_SECRET_KEY": (
            "secret_key",
            "",
            "Signs dashboard sessions and downloads' resume ETags, at least 32 characters "
            "(`openssl rand -hex 32`). Unset: sessions are signed with a key derived from "
            "`DROP_ADMIN_TOKEN`, and ETags with random bytes kept in `DROP_DATA_DIR/secret_key`. "
            "Set it, the same everywhere, when machines with separate data directories serve "
            "one database (see {doc}`../rotate-secrets`).",
        ),
        "DROP_ADMIN_SESSION_IDLE": (
            "admin_session_idle",
            "seconds",
            "Inactivity before a dashboard session ends.",
        ),
        "DROP_ADMIN_SESSION_MAX": (
            "admin_session_max",
            "seconds",
            "Time after login when a dashboard session ends, however active.",
        ),
        "DROP_PURGE_RETENTION": (
            "purge_retention",
            "seconds",
            "How long gone drops keep their rows before `drop-ops purge` removes them.",
        ),
        "DROP_AUDIT_RETENTION": (
            "audit_retention",
            "seconds",
            "How long the audit trail keeps an operator action.",
        ),
        "DROP_WORKER_STALE_SECONDS": (
            "worker_stale_seconds",
            "seconds",
            "A worker heartbeat older than this counts as dead.",
        ),
        "DROP_RECONCILE_HOURS": (
            "reconcile_hours",
            "",
            "Every how many hours (1, 2, 3, 4, 6, 8, 12 or 24, from midnight UTC) the worker "
            "reconciles storage with the database; `0`: only `drop-ops purge` does.",
        ),
    },
    "Malware scanning": {
        "DROP_CLAMD_SOCKET": (
            "clamd_socket",
            "",
            "clamd's unix socket, e.g. `/run/clamav/clamd.ctl`: every upload is scanned. "
            "Unset (and no `DROP_CLAMD_HOST`): no scanning.",
        ),
        "DROP_CLAMD_HOST": (
            "clamd_host",
            "",
            "Or clamd over TCP, `host:port` (`[::1]:3310` for IPv6); not both.",
        ),
        "DROP_SCAN_MODE": (
            "scan_mode",
            "",
            "`hold`: a new upload answers `423` until clamd calls it clean; `after`: served "
            "at once, revoked on a hit.",
        ),
        "DROP_SCAN_MAX_BYTES": (
            "scan_max_bytes",
            "bytes",
            "Largest file sent to clamd: set it to clamd's `StreamMaxLength`; at most 2 GiB − 1.",
        ),
        "DROP_SCAN_TOO_LARGE": (
            "scan_too_large",
            "",
            "A larger file: `serve` it unscanned, or `refuse` its upload with `413`.",
        ),
        "DROP_SCAN_QUARANTINE": (
            "scan_quarantine",
            "",
            "A hit's file: `keep` it in `DROP_DATA_DIR/quarantine/` (on S3 under "
            "`quarantine/` in the bucket), or `delete` it.",
        ),
        "DROP_SCAN_TIMEOUT": (
            "scan_timeout",
            "seconds",
            "Time clamd may take to answer one scan; at most `3600`.",
        ),
        "DROP_SCAN_RETRY_DELAY": (
            "scan_retry_delay",
            "seconds",
            "Before a failed scan is tried again, doubling for each of 5 retries; at most `3600`.",
        ),
        "DROP_SCAN_REQUEUE_SECONDS": (
            "scan_requeue_seconds",
            "seconds",
            "A live drop whose scan is still pending this long is queued again by the "
            "per-minute sweep; `60` to `604800`.",
        ),
    },
}


def settings() -> dict[str, tuple]:
    """Every documented variable, whatever its group."""
    return {name: entry for group in GROUPS.values() for name, entry in group.items()}
