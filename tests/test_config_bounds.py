"""Settings whose size is a security or memory bound: refused outside it, naming the variable."""

import pytest

from drop.config import MAX_4XX_CACHE_TTL, Config, ConfigError


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
