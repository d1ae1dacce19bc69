"""Settings whose size is a security or memory bound: refused outside it, naming the variable."""

import pytest

from drop.config import MAX_4XX_CACHE_TTL, MAX_STATS_FLUSH_SECONDS, Config, ConfigError


def test_4xx_cache_ttl_is_capped_so_the_cache_stays_bounded():
    assert Config.from_env({"DROP_4XX_CACHE_TTL": str(MAX_4XX_CACHE_TTL)}).error_cache_ttl == 3600
    with pytest.raises(ConfigError, match="DROP_4XX_CACHE_TTL"):
        Config.from_env({"DROP_4XX_CACHE_TTL": str(MAX_4XX_CACHE_TTL + 1)})


def test_unfinished_uploads_expire_after_a_day_and_at_most_30_days():
    assert Config.from_env({}).upload_expires_in == 86400
    assert Config.from_env({"DROP_UPLOAD_EXPIRES_IN": "2592000"}).upload_expires_in == 2592000
    for bad in ("2592001", "0", "-5", "soon"):
        with pytest.raises(ConfigError, match="DROP_UPLOAD_EXPIRES_IN"):
            Config.from_env({"DROP_UPLOAD_EXPIRES_IN": bad})


def test_stats_flush_interval_is_bounded_so_a_crash_loses_little():
    assert Config.from_env({}).stats_flush_seconds == 5
    assert Config.from_env({"DROP_STATS_FLUSH_SECONDS": "300"}).stats_flush_seconds == 300
    for bad in (str(MAX_STATS_FLUSH_SECONDS + 1), "0", "-1", "soon"):
        with pytest.raises(ConfigError, match="DROP_STATS_FLUSH_SECONDS"):
            Config.from_env({"DROP_STATS_FLUSH_SECONDS": bad})


def test_scanning_is_off_until_clamd_is_named_and_holds_by_default():
    assert not Config.from_env({}).scanning
    config = Config.from_env({"DROP_CLAMD_SOCKET": "/run/clamav/clamd.ctl"})
    assert config.scanning and config.scan_holds
    after = Config.from_env({"DROP_CLAMD_HOST": "127.0.0.1:3310", "DROP_SCAN_MODE": "After"})
    assert after.scanning and not after.scan_holds


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DROP_CLAMD_SOCKET": "/s", "DROP_CLAMD_HOST": "h:1"}, "DROP_CLAMD_SOCKET"),
        ({"DROP_CLAMD_HOST": "clamd"}, "DROP_CLAMD_HOST"),
        ({"DROP_CLAMD_HOST": "clamd:99999"}, "DROP_CLAMD_HOST"),
        ({"DROP_SCAN_MODE": "later"}, "DROP_SCAN_MODE"),
        ({"DROP_SCAN_TOO_LARGE": "maybe"}, "DROP_SCAN_TOO_LARGE"),
        ({"DROP_SCAN_QUARANTINE": "shred"}, "DROP_SCAN_QUARANTINE"),
        # ClamAV scans nothing of 2 GiB or more; INSTREAM lengths are 32 bits.
        ({"DROP_SCAN_MAX_BYTES": str(2 * 1024**3)}, "DROP_SCAN_MAX_BYTES"),
        ({"DROP_SCAN_MAX_BYTES": "0"}, "DROP_SCAN_MAX_BYTES"),
        ({"DROP_SCAN_TIMEOUT": "3601"}, "DROP_SCAN_TIMEOUT"),
        ({"DROP_SCAN_RETRY_DELAY": "0"}, "DROP_SCAN_RETRY_DELAY"),
        ({"DROP_SCAN_RETRY_DELAY": "3601"}, "DROP_SCAN_RETRY_DELAY"),
        # The sweep that queues pending scans again runs once a minute.
        ({"DROP_SCAN_REQUEUE_SECONDS": "59"}, "DROP_SCAN_REQUEUE_SECONDS"),
    ],
)
def test_scan_settings_outside_their_bounds_are_refused(env, named):
    with pytest.raises(ConfigError, match=named):
        Config.from_env(env)
