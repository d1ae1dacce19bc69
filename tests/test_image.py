"""The container image: `make image` builds it once per session, and podman runs it.

On the embedded default, with its data in a volume; and against this machine's PostgreSQL
and Redis, the web server and the worker in two containers as compose.yaml runs them.
podman, runc and the containers.conf they need here come from `make services`
(scripts/install-image-deps.sh). Each container shares the host's network namespace
(`--network host`) and listens on a free port of its own (DROP_BIND).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg2
import pytest
import requests
import yaml

from drop.config import Config
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.support.common import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
# `make image`'s drop:latest under a tag of this checkout's own: two checkouts' suites can
# run side by side without one starting the other's image. The layers are shared.
IMAGE = f"localhost/drop:test-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"
# The UID the Containerfile runs drop as.
DROP_UID = "10001"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
    return result


@pytest.fixture(scope="session")
def image() -> str:
    """The image `make image` builds (layers cached from the last build)."""
    assert shutil.which("podman"), "podman is missing: `make services` installs it"
    result = subprocess.run(
        ["make", "image"],
        cwd=ROOT,
        env={**os.environ, "IMAGE_TAG": IMAGE},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return IMAGE


class Container:
    """One detached `podman run` of the image, listening on 127.0.0.1:<a free port>."""

    def __init__(self, image: str, *command: str, volume: str | None = None, **env: str):
        self.name = f"drop-test-{uuid.uuid4().hex[:12]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.image = image
        self.command = command
        self.volume = volume
        self.env = {"DROP_BIND": f"127.0.0.1:{self.port}", **env}

    def start(self, wait: bool = True) -> Container:
        options = ["--detach", "--name", self.name, "--network", "host"]
        # No systemd timer for the HEALTHCHECK here: the tests run it with `podman healthcheck`.
        options += ["--health-interval", "disable"]
        options += [f"--env={name}={value}" for name, value in self.env.items()]
        if self.volume:
            options += ["--volume", f"{self.volume}:/data"]
        podman("run", *options, self.image, *self.command)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until /readyz answers 200 (migrated, database and storage answering)."""

        def ready() -> bool:
            assert self.running(), f"{self.name} exited:\n{self.logs()}"
            try:
                return requests.get(self.url + "/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        assert wait_until(ready, timeout=120, interval=0.25), f"never ready:\n{self.logs()}"

    def running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout[-4000:] + result.stderr[-4000:]

    def remove(self) -> None:
        # --volumes: the anonymous /data volume of a container started without one.
        podman("rm", "--force", "--volumes", "--time", "10", self.name, check=False)


@pytest.fixture
def containers():
    """Start containers with `containers(Container(...))`; all are removed after the test."""
    started: list[Container] = []

    def start(container: Container, wait: bool = True) -> Container:
        started.append(container)
        return container.start(wait)

    yield start
    for container in started:
        container.remove()


@pytest.fixture
def volume():
    """A named volume of the test's own, removed after it."""
    name = f"drop-test-{uuid.uuid4().hex[:12]}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "--force", name, check=False)


@pytest.fixture(scope="module")
def embedded(image):
    """The image as it starts by default: SQLite and blobs in /data, the worker beside."""
    container = Container(image).start()
    yield container
    container.remove()


def upload(base_url: str, content: bytes) -> dict:
    answer = requests.put(
        base_url + "/api/v1.0/file", files={"file": ("notes.bin", content)}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def download(base_url: str, token: str) -> requests.Response:
    return requests.get(f"{base_url}/api/v1.0/file/{token}", timeout=30)


def test_default_command_serves_the_page_with_its_scripts(embedded):
    page = requests.get(embedded.url + "/", timeout=10)

    assert page.status_code == 200, page.text
    scripts = re.findall(r'<script[^>]* src="([^"]+)"', page.text)
    assert scripts
    for src in scripts:
        assert requests.get(embedded.url + src, timeout=10).status_code == 200, src


def test_healthcheck_reports_healthy(embedded):
    result = podman("healthcheck", "run", embedded.name, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_process_runs_as_the_drop_user(embedded):
    users = podman("top", embedded.name, "user", "huser").stdout.split()[2:]

    # `user` as seen inside (the name), `huser` as seen from the host (the UID).
    assert users and set(users) == {"drop", DROP_UID}


def test_an_upload_downloads_after_the_container_is_replaced(image, containers, volume):
    content = uuid.uuid4().bytes * 4096
    first = containers(Container(image, volume=volume))
    token = upload(first.url, content)["token"]
    first.remove()

    # A new container: only the volume carries the drop over.
    second = containers(Container(image, volume=volume))
    answer = download(second.url, token)

    assert answer.status_code == 200, answer.text
    assert answer.content == content
    assert download(second.url, token).status_code == 410


@pytest.fixture
def own_database() -> str:
    """A database of the image tests' own on the suite's PostgreSQL, created on first use
    and emptied before each test (dropping a database waits for a checkpoint: seconds)."""
    server, name = POSTGRES_URL.rsplit("/", 1)
    name = f"{name}_image"
    admin = psycopg2.connect(server + "/postgres")
    admin.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = f"{server}/{name}"
    execute(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    return url


def execute(database_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one statement in its own connection and transaction; its rows, if any."""
    with (
        contextlib.closing(psycopg2.connect(database_url)) as connection,
        connection,  # the transaction: committed on the way out
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def blob_deleted(database_url: str, token: str) -> bool:
    sql = 'SELECT "blob_deleted_at" FROM "drop" WHERE "token" = %s'
    return execute(database_url, sql, (token,))[0][0] is not None


def test_web_and_worker_containers_on_postgres_and_redis(
    image, own_database, redis_client, containers, volume
):
    # No resume window: a used-up drop's blob is deleted at once, by the worker over Redis.
    env = {
        "DROP_DATABASE_URL": own_database,
        "DROP_REDIS_URL": REDIS_URL,
        "DROP_RESUME_WINDOW": "0",
    }
    web = containers(Container(image, "drop-ops", "serve", volume=volume, **env))
    containers(Container(image, "drop-ops", "worker", volume=volume, **env), wait=False)
    content = uuid.uuid4().bytes * 1000

    readiness = requests.get(web.url + "/readyz", timeout=10).json()
    token = upload(web.url, content)["token"]
    answer = download(web.url, token)

    assert readiness["checks"]["redis"] == "ok"
    assert answer.status_code == 200, answer.text
    assert answer.content == content
    assert wait_until(lambda: blob_deleted(own_database, token), timeout=60)


def drop_services(compose: dict) -> dict[str, dict]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == "drop:latest"
    }


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_runs_web_worker_postgres_and_redis(compose):
    services = compose["services"]
    commands = {name: service["command"] for name, service in drop_services(compose).items()}

    assert commands == {"web": ["drop-ops", "serve"], "worker": ["drop-ops", "worker"]}
    for service in drop_services(compose).values():
        assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert "postgres" in services["postgres"]["image"]
    assert "redis" in services["redis"]["image"]
    for service in drop_services(compose).values():
        assert set(service["depends_on"]) == {"postgres", "redis"}
        assert "drop-data:/data" in service["volumes"]
    for service in services.values():
        for mount in service.get("volumes", []):
            assert mount.split(":")[0] in compose["volumes"], mount


def test_compose_settings_are_valid_for_drop(compose):
    for name, service in drop_services(compose).items():
        # What compose substitutes: ${POSTGRES_PASSWORD:-drop} becomes its default.
        env = {
            key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
            for key, value in service["environment"].items()
        }
        config = Config.from_env(env)

        assert config.database_url.startswith("postgresql://drop:drop@postgres:5432/"), name
        assert config.redis_url == "redis://redis:6379/0", name
