"""Settings whose size is a security or memory bound: refused outside it, naming the variable."""

import pytest

from drop.config import MAX_4XX_CACHE_TTL, MAX_STATS_FLUSH_SECONDS, Config, ConfigError


def test_4xx_cache_ttl_is_capped_so_the_cache_stays_bounded():
    assert Config.from_env({"DROP_4XX_CACHE_TTL": str(MAX_4XX_CACHE_TTL)}).error_cache_ttl == 3600
    with pytest.raises(ConfigError, match="DROP_4XX_CACHE_TTL"):
        Config.from_env({"DROP_4XX_CACHE_TTL": str(MAX_4XX_CACHE_TTL + 1)})


def test_stats_flush_interval_is_bounded_so_a_crash_loses_little():
    assert Config.from_env({}).stats_flush_seconds == 5
    assert Config.from_env({"DROP_STATS_FLUSH_SECONDS": "300"}).stats_flush_seconds == 300
    for bad in (str(MAX_STATS_FLUSH_SECONDS + 1), "0", "-1", "soon"):
        with pytest.raises(ConfigError, match="DROP_STATS_FLUSH_SECONDS"):
            Config.from_env({"DROP_STATS_FLUSH_SECONDS": bad})
