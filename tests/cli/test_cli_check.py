"""drop-ops check: one line per dependency, exit 1 when any is wrong."""

from __future__ import annotations

import datetime

from drop.runtime.heartbeat import write_heartbeat
from tests.support.ops import now, run_cli


def lines_by_check(output: str) -> dict[str, str]:
    return {line.split()[1]: line for line in output.splitlines()}


def test_healthy_setup_passes_every_check(config):
    write_heartbeat(config.data_dir, now())
    # The free-space floor is the test machine's business, not this test's.
    result = run_cli(config, "check", DROP_MIN_FREE_BYTES="1")
    assert result.exit_code == 0, result.output
    checks = lines_by_check(result.output)
    assert list(checks) == ["config", "database", "redis", "storage", "worker"]
    assert all(line.startswith("ok ") for line in checks.values()), result.output


def test_missing_heartbeat_fails_the_worker_check(config):
    result = run_cli(config, "check")
    assert result.exit_code == 1, result.output
    assert lines_by_check(result.output)["worker"].startswith("FAIL")
    assert lines_by_check(result.output)["database"].startswith("ok")


def test_stale_heartbeat_fails_the_worker_check(config):
    write_heartbeat(config.data_dir, now() - datetime.timedelta(minutes=10))
    result = run_cli(config, "check")
    assert result.exit_code == 1, result.output
    assert "STALE, last heartbeat 600s ago" in lines_by_check(result.output)["worker"]


def test_unreachable_redis_fails_the_redis_check(config):
    write_heartbeat(config.data_dir, now())
    result = run_cli(config, "check", DROP_REDIS_URL="redis://127.0.0.1:1/0")
    assert result.exit_code == 1, result.output
    assert lines_by_check(result.output)["redis"].startswith(
        "FAIL  redis     redis://127.0.0.1:1/0"
    )


def test_too_little_free_space_fails_the_storage_check(config):
    write_heartbeat(config.data_dir, now())
    result = run_cli(config, "check", DROP_MIN_FREE_BYTES=str(2**62))
    assert result.exit_code == 1, result.output
    assert "only" in lines_by_check(result.output)["storage"]


def test_unwritable_data_dir_fails_the_storage_check(config):
    write_heartbeat(config.data_dir, now())
    (config.data_dir / "tmp").write_text("a file where the temp directory should be")
    result = run_cli(config, "check")
    assert result.exit_code == 1, result.output
    assert "not writable" in lines_by_check(result.output)["storage"]


def test_pending_migrations_fail_the_database_check(tmp_path):
    from drop.config import Config

    result = run_cli(Config(data_dir=tmp_path), "check")
    assert result.exit_code == 1, result.output
    assert (
        "pending migrations 0001_create_drop, 0002_create_download_event, "
        "0003_create_rate_counter" in result.output
    )


def test_bad_configuration_fails_first_and_alone(config):
    result = run_cli(config, "check", DROP_DATABASE_URL="mysql://db/drop")
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        "FAIL  config    DROP_DATABASE_URL must start with sqlite:// or postgresql://, got 'mysql'"
    ]
