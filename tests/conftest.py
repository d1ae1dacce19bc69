"""Fixtures: the app on SQLite and on real PostgreSQL + Redis, and helpers to drive it.

PostgreSQL and Redis are required, never skipped: `make test` starts them when they are down.
DROP_TEST_DATABASE_URL and DROP_TEST_REDIS_URL point the suite elsewhere (for example, to
run two checkouts' suites side by side).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import tempfile
from pathlib import Path

# drop.tasks builds its Huey from the environment when first imported; give it a
# scratch directory so a test run never writes into ./var.
os.environ.setdefault("DROP_DATA_DIR", tempfile.mkdtemp(prefix="drop-test-env-"))

import falcon.testing  # noqa: E402
import psycopg2  # noqa: E402
import pytest  # noqa: E402
import redis  # noqa: E402

from drop import migrations  # noqa: E402
from drop.app import create_app  # noqa: E402
from drop.config import Config  # noqa: E402
from drop.models import db, open_database  # noqa: E402
from drop.storage import open_storage  # noqa: E402
from drop.tasks import huey  # noqa: E402
from tests.clamd_server import ClamdServer  # noqa: E402
from tests.log_checks import leaking_lines  # noqa: E402
from tests.nginx import Nginx  # noqa: E402
from tests.seaweedfs import start_seaweedfs  # noqa: E402
from tests.support import FakeClock, LiveServer  # noqa: E402

POSTGRES_URL = os.environ.get(
    "DROP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/drop_test"
)
REDIS_URL = os.environ.get("DROP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BACKENDS = ["sqlite", "postgres"]
# Test modules that run once per blob store too: local disk and S3 (SeaweedFS).
S3_SUITE = {
    "test_api_upload",
    "test_api_download",
    "test_api_errors",
    "test_raw_upload",
    "test_page_delete",
    "test_tus_protocol",
    "test_tus_gates",
}


def pytest_generate_tests(metafunc):
    if "blob_store" in metafunc.fixturenames and metafunc.module.__name__.split(".")[-1] in (
        S3_SUITE
    ):
        # A test of what lies in the blob directory is about local storage alone.
        stores = ["local"] if "blob_dir" in metafunc.fixturenames else ["local", "s3"]
        metafunc.parametrize("blob_store", stores, indirect=True)


@pytest.fixture
def blob_store(request) -> str:
    """Where the app under test keeps blobs: "local" unless the module is in S3_SUITE."""
    return getattr(request, "param", "local")


@pytest.fixture(scope="session")
def seaweedfs():
    """One SeaweedFS (`weed mini`) per test process, stopped at the end of the session."""
    store = start_seaweedfs()
    yield store
    store.stop()


@pytest.fixture
def s3_store(seaweedfs, monkeypatch):
    """The SeaweedFS bucket, emptied, with its credentials where boto3's chain finds them."""
    seaweedfs.reset()
    for name, value in seaweedfs.env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    yield seaweedfs


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test database, created on first use."""
    name = POSTGRES_URL.rsplit("/", 1)[1]
    admin = psycopg2.connect(POSTGRES_URL.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return POSTGRES_URL


def reset_postgres(url: str) -> None:
    database = open_database(url)
    with database:
        # Every table, whichever migrations made it: a new migration needs no edit here.
        database.execute_sql("DROP SCHEMA public CASCADE")
        database.execute_sql("CREATE SCHEMA public")


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def config(backend, blob_store, tmp_path, request) -> Config:
    """A migrated, empty store on the backend under test, blobs on disk or in S3.

    No free-space floor (min_free_bytes=0): the suite must pass on a machine with little
    disk left; the floor's own tests set one.
    """
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        request.getfixturevalue("redis_client")
        reset_postgres(url)
        config = Config(
            data_dir=tmp_path / "data", database_url=url, redis_url=REDIS_URL, min_free_bytes=0
        )
    else:
        config = Config(data_dir=tmp_path / "data", min_free_bytes=0)
    if blob_store == "s3":
        store = request.getfixturevalue("s3_store")
        config = dataclasses.replace(
            config,
            storage="s3",
            s3_bucket=store.bucket,
            s3_endpoint_url=store.endpoint_url,
            s3_region="us-east-1",
        )
    config.data_dir.mkdir(parents=True)
    database = open_database(config.effective_database_url)
    with database:
        migrations.migrate(database)
    return config


@pytest.fixture(scope="session")
def clamd(tmp_path_factory) -> ClamdServer:
    """A real clamd on the tests' own signatures, shared by the tests that leave it running."""
    server = ClamdServer(tmp_path_factory.mktemp("clamd")).start()
    yield server
    server.stop()


@pytest.fixture
def own_clamd(tmp_path_factory) -> ClamdServer:
    """A clamd for one test alone: to stop, restart, or give new signatures."""
    server = ClamdServer(tmp_path_factory.mktemp("own-clamd")).start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def immediate_huey():
    """Run Huey tasks inline, as soon as they are enqueued."""
    huey.immediate = True
    yield huey
    huey.immediate = False


@pytest.fixture
def app(config, clock, immediate_huey) -> falcon.App:
    application = create_app(config, clock=clock)
    yield application
    if not db.is_closed():
        db.close()


@pytest.fixture
def client(app) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(app)


@pytest.fixture
def blob_dir(config) -> Path:
    """The local blob directory; a test of what lies on disk does not apply to S3."""
    if config.storage != "local":
        pytest.skip("a detail of local storage")
    return config.data_dir / "blobs"


@pytest.fixture
def uploads_in_flight(config):
    """What uploads left unfinished: temp files on disk, or multipart uploads in S3."""
    far_future = FakeClock().now + datetime.timedelta(days=365)
    return lambda: [str(u) for u in open_storage(config).stale_uploads(far_future, 0)]


@pytest.fixture
def partials_stored(config):
    """What unfinished tus uploads hold, on local disk or in the bucket (tests/tus_support)."""
    from tests.tus_support import StoredPartials

    return StoredPartials(config)


@pytest.fixture
def blobs(config):
    """The app's blob store, whichever backend the test runs on."""
    return open_storage(config)


@pytest.fixture(autouse=True)
def live_server_logs_hold_no_secret():
    """After each test, every log its live servers wrote, and nginx's access logs, are
    checked: no query secret, no secret header, no whole token in a link (the issue's
    "grep every log line")."""
    first, first_nginx = len(LiveServer.logs), len(Nginx.access_logs)
    yield
    for log in LiveServer.logs[first:] + Nginx.access_logs[first_nginx:]:
        if log.exists():
            leaks = leaking_lines(log.read_text(errors="replace"))
            assert not leaks, f"{log} leaks secrets: {leaks[:3]}"
