"""ops/gunicorn.conf.py: workers and threads, no query strings logged, trusted proxies."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from tests.support.common import ROOT, UPLOAD, LiveServer, drop_env, multipart

CONF = ROOT / "ops" / "gunicorn.conf.py"


def settings(config, **env) -> dict:
    """The conf file's settings, evaluated in a child process as gunicorn would."""
    code = (
        "import json, runpy, sys; s = runpy.run_path(sys.argv[1]); "
        "print(json.dumps({k: v for k, v in s.items() if isinstance(v, (str, int))}))"
    )
    extra = env
    env = drop_env(config)
    env.pop("DROP_WEB_WORKERS", None)
    env.update({name: str(value) for name, value in extra.items()})
    result = subprocess.run(
        [sys.executable, "-c", code, str(CONF)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("backend", ["sqlite"])
def test_workers_follow_the_cores(config):
    assert settings(config)["workers"] == max(len(os.sched_getaffinity(0)), 2)
    assert settings(config, DROP_WEB_WORKERS=3)["workers"] == 3


@pytest.mark.parametrize("backend", ["sqlite"])
def test_requests_run_in_threads_of_the_paced_worker(config):
    found = settings(config)
    assert found["worker_class"] == "drop.runtime.serving.PacedThreadWorker"
    assert found["threads"] >= 32
    assert settings(config, DROP_WEB_THREADS=8)["threads"] == 8


@pytest.mark.parametrize("backend", ["sqlite"])
def test_access_log_format_has_no_query_string(config):
    found = settings(config)
    assert "%(U)s" in found["access_log_format"]
    for atom in ("%(q)s", "%(r)s", "%({x-drop-password}i)s", "%({x-delete-token}i)s"):
        assert atom not in found["access_log_format"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_bad_setting_stops_gunicorn_with_one_line(config):
    env = drop_env(config, DROP_MAX_UPLOAD_BYTES="lots")
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(CONF), "drop.wsgi:app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DROP_MAX_UPLOAD_BYTES must be a whole number" in result.stderr


def upload_url(server, **headers) -> str:
    body, content_type = multipart(b"x")
    made = requests.put(server.url + UPLOAD, data=body, headers=content_type | headers, timeout=10)
    return made.json()["url"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_forwarded_proto_is_trusted_from_a_configured_proxy(config):
    with LiveServer(config, workers=1, DROP_TRUSTED_PROXIES="127.0.0.1") as server:
        assert upload_url(server, **{"X-Forwarded-Proto": "https"}).startswith("https://")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_forwarded_proto_is_ignored_from_anyone_else(config):
    with LiveServer(config, workers=1, DROP_TRUSTED_PROXIES="192.0.2.1") as server:
        assert upload_url(server, **{"X-Forwarded-Proto": "https"}).startswith("http://")
