"""A real install: a wheel built from a clean copy of the checkout, in a fresh venv, run from
an empty directory, serves pages, one-time downloads and an nginx site of its own.

This is what an operator gets from `pip install drop-<version>-py3-none-any.whl` (or pipx):
nothing of the checkout is on the path, so a file found above the package would be missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import requests

from tests.support.common import ROOT, UPLOAD, free_port, multipart, wait_for_http
from tests.support.nginx import Nginx


def clean_copy(destination: Path) -> Path:
    """The files git tracks, as they are in the working tree: no .venv, build/ or strays."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = clean_copy(work / "source")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), "."],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("drop-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel and its dependencies: its bin directory."""
    home = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(home, with_pip=True)
    done = subprocess.run(
        [str(home / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return home / "bin"


def clean_env(**extra) -> dict[str, str]:
    """This process's environment without any DROP_* setting or path into the checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DROP_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    return env | extra


def test_the_wheel_ships_the_package_and_its_files_but_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in names if name.startswith("tests/")]
    for needed in (
        "drop/bundled/templates/home.html",
        "drop/bundled/templates/ops/dashboard.html",
        "drop/bundled/migrations/0001_create_drop.py",
        "drop/bundled/ops/gunicorn.conf.py",
        "drop/bundled/ops/nginx.conf",
        "drop/assets/drop.css",
        "drop/assets/vendor/htmx.min.js",
        "drop/assets/vendor/tus/tus.min.js",
        "drop/openapi.json",
    ):
        assert needed in names


def test_the_installed_drop_is_not_the_checkout(installed, tmp_path):
    where = subprocess.run(
        [str(installed / "python"), "-c", "import drop; print(drop.__file__)"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "site-packages" in where and str(ROOT) not in where


def test_drop_ops_prints_its_help(installed, tmp_path):
    done = subprocess.run(
        [str(installed / "drop-ops"), "--help"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout and "migrate" in done.stdout


def test_from_an_empty_directory_it_migrates_serves_and_deletes_after_download(installed, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(DROP_BIND=f"127.0.0.1:{port}", DROP_WEB_WORKERS="2")
    migrated = subprocess.run(
        [str(installed / "drop-ops"), "migrate"], cwd=tmp_path, env=env, capture_output=True
    )
    assert migrated.returncode == 0, migrated.stderr
    assert b"applied 0001_create_drop" in migrated.stdout
    assert (tmp_path / "var").is_dir()  # the embedded default: ./var under the working dir

    with served(installed, tmp_path, env):
        wait_for_http(url + "/healthz")
        home = requests.get(url + "/", timeout=10)
        assert home.status_code == 200
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', home.text)
        assert "/static/vendor/htmx.min.js" in assets and "/static/drop.js" in assets
        for asset in assets:
            assert requests.get(url + asset, timeout=10).status_code == 200, asset

        body, headers = multipart(b"from a wheel\n")
        uploaded = requests.put(url + UPLOAD, data=body, headers=headers, timeout=10)
        assert uploaded.status_code == 201, uploaded.text
        link = uploaded.json()["url"]
        first = requests.get(link, timeout=10)
        assert first.status_code == 200 and first.content == b"from a wheel\n"
        assert requests.get(link, timeout=10).status_code == 410


def test_its_nginx_conf_serves_its_own_assets_in_front_of_it(installed, tmp_path):
    port = free_port()
    env = clean_env(
        DROP_BIND=f"127.0.0.1:{port}", DROP_WEB_WORKERS="2", DROP_ACCEL_REDIRECT="/_drop_blobs"
    )
    subprocess.run([str(installed / "drop-ops"), "migrate"], cwd=tmp_path, env=env, check=True)
    nginx = Nginx(tmp_path / "nginx", {})
    site = subprocess.run(
        [
            str(installed / "drop-ops"),
            "nginx-conf",
            "--listen",
            f"127.0.0.1:{nginx.port}",
            "--access-log",
            str(nginx.access_log),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert site.returncode == 0, site.stderr
    assets = re.search(r"alias (\S+)/;", site.stdout.split("location /static/")[1]).group(1)
    assert "site-packages/drop/assets" in assets
    nginx.site = site.stdout

    with served(installed, tmp_path, env), nginx:
        tus = requests.get(nginx.url + "/static/vendor/tus/tus.min.js", timeout=10)
        shipped = Path(assets, "vendor", "tus", "tus.min.js").read_bytes()
        assert tus.status_code == 200 and tus.content == shipped
        body, headers = multipart(b"through nginx\n")
        uploaded = requests.put(nginx.url + UPLOAD, data=body, headers=headers, timeout=10)
        link = uploaded.json()["url"]
        assert link.startswith(nginx.url)
        download = requests.get(link, timeout=10)
        assert download.content == b"through nginx\n"
        assert requests.get(link, timeout=10).status_code == 410


class served:
    """`drop-ops serve --with-worker` from the installed venv, stopped with its children."""

    def __init__(self, installed: Path, cwd: Path, env: dict):
        self.command = [str(installed / "drop-ops"), "serve", "--with-worker"]
        self.cwd, self.env = cwd, env
        self.log = cwd / "serve.log"

    def __enter__(self):
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_http(f"http://{self.env['DROP_BIND']}/healthz")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.mark.parametrize(
    ("missing", "command"),
    [
        ("bundled/migrations", "migrate"),
        ("bundled/templates", "serve"),
        ("assets", "serve"),
        ("bundled/ops", "serve"),
    ],
)
def test_an_install_missing_a_file_fails_at_start_and_says_so(
    installed, tmp_path, missing, command
):
    package = Path(
        subprocess.run(
            [str(installed / "python"), "-c", "import drop; print(drop.__path__[0])"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    env = clean_env(DROP_BIND=f"127.0.0.1:{free_port()}")
    (package / missing).rename(tmp_path / "set-aside")
    try:
        done = subprocess.run(
            [str(installed / "drop-ops"), command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        (tmp_path / "set-aside").rename(package / missing)
    assert done.returncode == 1
    assert "is missing from this install of drop" in done.stderr or "no migration" in done.stderr
    assert "Traceback" not in done.stderr
    assert "up to date" not in done.stdout
