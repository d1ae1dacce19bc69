"""The deployment files in ops/: the nginx template, the systemd units, the env example."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from drop.cli import cli
from drop.config import Config
from tests.support.common import ROOT

OPS = ROOT / "ops"
UNITS = sorted((OPS / "systemd").glob("*.service"))


def env_example() -> dict[str, str]:
    env = {}
    for line in (OPS / "drop.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def test_env_example_is_a_valid_configuration():
    config = Config.from_env(env_example())
    assert config.accel_redirect == "/_drop_blobs"
    assert config.delete_grace_seconds > 0


def test_nginx_conf_command_fills_every_placeholder():
    result = CliRunner().invoke(
        cli, ["nginx-conf", "--server-name", "drop.example.org"], env=env_example()
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"\$\{DROP_[A-Z0-9_]+\}", result.output) is None
    assert "server 127.0.0.1:8000;" in result.output
    assert "alias /var/lib/drop/blobs/;" in result.output
    assert "location /_drop_blobs/ {" in result.output
    # the upload limit plus room for the multipart framing
    assert "client_max_body_size 104923136;" in result.output
    assert "$proxy_add_x_forwarded_for" in result.output  # nginx's own variables survive
    assert "access_log /var/log/nginx/drop.access.log drop_private;" in result.output


def test_nginx_conf_command_takes_the_access_log_path():
    result = CliRunner().invoke(
        cli, ["nginx-conf", "--access-log", "/srv/log/drop.log"], env=env_example()
    )
    assert result.exit_code == 0, result.output
    assert "access_log /srv/log/drop.log drop_private;" in result.output


def test_nginx_conf_lets_through_what_api_tokens_allow_and_never_less():
    def body_size(*args: str) -> int:
        result = CliRunner().invoke(cli, ["nginx-conf", *args], env=env_example())
        assert result.exit_code == 0, result.output
        return int(re.search(r"client_max_body_size (\d+);", result.output).group(1))

    framing = 64 * 1024
    assert body_size("--max-upload-bytes", "2GiB") == 2 * 1024**3 + framing
    # Below DROP_MAX_UPLOAD_BYTES (100 MiB in the example), the anonymous limit stands.
    assert body_size("--max-upload-bytes", "1MiB") == 100 * 1024**2 + framing


def test_nginx_access_log_format_names_no_query_header_or_raw_path():
    text = (OPS / "nginx.conf").read_text()
    layout = re.search(r"log_format drop_private\s+((?:'[^']*'\s*)+);", text).group(1)
    variables = set(re.findall(r"\$(\w+)", layout))
    # No $request, $request_uri, $args or $query_string (the query), no header but the
    # User-Agent, and the path only through the map that cuts tokens short.
    assert variables == {
        "remote_addr",
        "time_local",
        "request_method",
        "drop_log_uri",
        "server_protocol",
        "status",
        "body_bytes_sent",
        "http_user_agent",
        "request_id",
        "request_time",
    }


def test_nginx_conf_command_needs_accel_redirect():
    env = dict(env_example(), DROP_ACCEL_REDIRECT="")
    result = CliRunner().invoke(cli, ["nginx-conf"], env=env)
    assert result.exit_code == 1
    assert "DROP_ACCEL_REDIRECT" in result.output


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_systemd_unit_is_hardened(unit):
    text = unit.read_text()
    for setting in (
        "User=drop",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/drop",
        "EnvironmentFile=/etc/drop/drop.env",
        "CapabilityBoundingSet=\n",
    ):
        assert setting in text, setting


def test_systemd_units_verify(tmp_path):
    """systemd's own checker, on the units pointed at this checkout instead of /opt/drop."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is installed by scripts/install-test-deps.sh"
    paths = []
    for unit in UNITS:
        text = unit.read_text().replace("/opt/drop/.venv", str(ROOT / ".venv"))
        text = text.replace("/etc/drop/drop.env", str(OPS / "drop.env.example"))
        (tmp_path / unit.name).write_text(text)
        paths.append(str(tmp_path / unit.name))
    result = subprocess.run([analyze, "verify", "--man=no", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert {path.name for path in UNITS} == {"drop-web.service", "drop-worker.service"}
