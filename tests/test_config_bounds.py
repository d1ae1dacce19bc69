"""Settings whose size is a security or memory bound: refused outside it, naming the variable."""

import pytest

from drop.config import MAX_4XX_CACHE_TTL, Config, ConfigError


def test_4xx_cache_ttl_is_capped_so_the_cache_stays_bounded():
    assert Config.from_env({"DROP_4XX_CACHE_TTL": str(MAX_4XX_CACHE_TTL)}).error_cache_ttl == 3600
    with pytest.raises(ConfigError, match="DROP_4XX_CACHE_TTL"):
        Config.from_env({"DROP_4XX_CACHE_TTL": str(MAX_4XX_CACHE_TTL + 1)})
