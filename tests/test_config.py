"""Configuration: defaults, and bad values stopping start-up with one line naming the variable."""

import subprocess
import sys

import pytest

from drop.config import MIB, Config, ConfigError
from tests.support.common import ROOT


def test_defaults_are_the_embedded_setup():
    config = Config.from_env({})
    assert config.database_url == "" and config.effective_database_url.startswith("sqlite:///")
    assert config.redis_url is None
    assert config.max_upload_bytes == 16 * MIB
    assert (config.default_expires_in, config.max_expires_in) == (86400, 7 * 86400)
    assert config.max_downloads == 100
    assert config.base_url is None


def test_values_come_from_the_environment():
    config = Config.from_env(
        {
            "DROP_DATA_DIR": "/srv/drop",
            "DROP_DATABASE_URL": "postgresql://drop@db/drop",
            "DROP_REDIS_URL": "redis://cache:6379/2",
            "DROP_MAX_UPLOAD_BYTES": "1024",
            "DROP_BASE_URL": "https://drop.example/",
        }
    )
    assert str(config.data_dir) == "/srv/drop"
    assert config.effective_database_url == "postgresql://drop@db/drop"
    assert config.redis_url == "redis://cache:6379/2"
    assert config.max_upload_bytes == 1024
    assert config.base_url == "https://drop.example"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DROP_MAX_UPLOAD_BYTES", "lots"),
        ("DROP_MAX_UPLOAD_BYTES", "0"),
        ("DROP_DEFAULT_EXPIRES_IN", "-5"),
        ("DROP_MAX_DOWNLOADS", "1.5"),
        ("DROP_DATABASE_URL", "mysql://x/y"),
        ("DROP_REDIS_URL", "http://cache"),
        ("DROP_BASE_URL", "drop.example"),
        ("DROP_DELETE_GRACE_SECONDS", "-1"),
        ("DROP_TRUSTED_PROXIES", "127.0.0.1,nginx-box"),
        ("DROP_ANONYMOUS_UPLOADS", "sometimes"),
    ],
)
def test_bad_values_name_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({variable: value})


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("", True), ("on", True), ("ON", True), ("true", True), ("off", False), ("0", False)],
)
def test_anonymous_uploads_are_on_unless_switched_off(value, allowed):
    assert Config.from_env({"DROP_ANONYMOUS_UPLOADS": value}).anonymous_uploads is allowed


def test_trusted_proxies_take_addresses_and_networks():
    config = Config.from_env({"DROP_TRUSTED_PROXIES": "10.0.0.0/8, ::1"})
    assert config.trusted_proxies == ("10.0.0.0/8", "::1")


def test_default_expiry_longer_than_the_maximum_is_refused():
    with pytest.raises(ConfigError, match="DROP_DEFAULT_EXPIRES_IN"):
        Config.from_env({"DROP_DEFAULT_EXPIRES_IN": "100", "DROP_MAX_EXPIRES_IN": "10"})


def run_with_bad_config(*command):
    env = {"PATH": "/usr/bin:/bin", "DROP_MAX_UPLOAD_BYTES": "lots"}
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_gunicorn_stops_with_one_line_on_a_bad_value():
    result = run_with_bad_config(
        sys.executable, "-m", "gunicorn", "-c", "ops/gunicorn.conf.py", "drop.wsgi:app"
    )
    assert result.returncode != 0
    assert "DROP_MAX_UPLOAD_BYTES" in result.stderr
    assert "Traceback" not in result.stderr


def test_drop_ops_stops_with_one_line_on_a_bad_value():
    result = run_with_bad_config(sys.executable, "-m", "drop.cli", "migrate")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "DROP_MAX_UPLOAD_BYTES" in result.stderr
