"""Fixtures: the app on SQLite and on real PostgreSQL + Redis, and helpers to drive it.

PostgreSQL and Redis are required, never skipped: `make test` starts them when they are down.
DROP_TEST_DATABASE_URL and DROP_TEST_REDIS_URL point the suite elsewhere (for example, to
run two checkouts' suites side by side).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import tempfile
from pathlib import Path

# drop.tasks builds its Huey from the environment when first imported; give it a
# scratch directory so a test run never writes into ./var.
os.environ.setdefault("DROP_DATA_DIR", tempfile.mkdtemp(prefix="drop-test-env-"))

import falcon.testing  # noqa: E402
import psycopg2  # noqa: E402
import pytest  # noqa: E402
import redis  # noqa: E402

from drop.app import create_app  # noqa: E402
from drop.config import Config  # noqa: E402
from drop.db import migrations  # noqa: E402
from drop.db.models import db, open_database  # noqa: E402
from drop.storage import open_storage  # noqa: E402
from drop.tasks import huey  # noqa: E402
from tests.support.clamd_server import ClamdServer  # noqa: E402
from tests.support.common import FakeClock, LiveServer  # noqa: E402
from tests.support.log_checks import leaking_lines  # noqa: E402
from tests.support.nginx import Nginx  # noqa: E402
from tests.support.seaweedfs import start_seaweedfs  # noqa: E402

# pytest-xdist runs the suite in several processes (gw0, gw1, …): each has a PostgreSQL
# database and a Redis database of its own, so no test sees another's rows or keys.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_WORKER_INDEX = int(XDIST_WORKER[2:] or 0) if XDIST_WORKER.startswith("gw") else 0
POSTGRES_URL = os.environ.get(
    "DROP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/drop_test"
) + (f"_{XDIST_WORKER}" if XDIST_WORKER else "")


def _redis_url_of_this_worker(url: str) -> str:
    # Databases counted down from the configured one: gw0 keeps it, gw1 takes the next.
    base, number = url.rsplit("/", 1)
    return f"{base}/{int(number) - _WORKER_INDEX}"


REDIS_URL = _redis_url_of_this_worker(
    os.environ.get("DROP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
)
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


# The tests that take longest, started first: a long test started last would leave the other
# pytest-xdist workers idle at the end of the run (`--durations` in `make test` shows them).
SLOWEST_FIRST = (
    "test_large_uploads.py",
    "test_schemathesis.py",
    "test_uploader.py",
    "test_storage_migrate.py",
    "test_s3_nodes.py",
    "test_tus_memory.py",
    "test_slow_clients.py",
    "test_image.py",
    "test_wheel_install.py",
    "test_page_resumable.py",
    "test_browser.py",
)


def pytest_collection_modifyitems(items):
    def slowness(item) -> int:
        module = item.path.name
        return SLOWEST_FIRST.index(module) if module in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=slowness)  # stable: within a module, tests keep their order


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
    """The test database, created on first use and migrated once per session."""
    name = POSTGRES_URL.rsplit("/", 1)[1]
    admin = psycopg2.connect(POSTGRES_URL.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    reset_postgres(POSTGRES_URL)
    database = open_database(POSTGRES_URL)
    with database:
        migrations.migrate(database)
        MIGRATED_SCHEMA.append(schema_fingerprint(database))
    return POSTGRES_URL


# What a full `migrate` makes, as the session's first migration left it.
MIGRATED_SCHEMA: list[str] = []
_SCHEMA_PARTS = """
    SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 'trigger ' || t.tgname || ' ' || c.relname FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND NOT t.tgisinternal
    UNION ALL SELECT 'function ' || p.proname FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
    UNION ALL SELECT 'constraint ' || co.conname FROM pg_constraint co
      JOIN pg_namespace n ON n.oid = co.connamespace WHERE n.nspname = 'public'
    UNION ALL SELECT 'rule ' || rulename FROM pg_rules WHERE schemaname = 'public'
    UNION ALL SELECT 'migration ' || name FROM schema_migrations
"""


def schema_fingerprint(database) -> str:
    """Every column, index, trigger, function, constraint, rule and applied migration."""
    if "schema_migrations" not in database.get_tables():
        return ""
    rows = database.execute_sql(f"SELECT part FROM ({_SCHEMA_PARTS}) AS parts(part) ORDER BY 1")
    return "\n".join(part for (part,) in rows)


def empty_postgres(url: str) -> None:
    """The migrated schema with no rows, as a fresh `migrate` leaves it.

    Deleting the rows of a few dozen tiny tables costs a few milliseconds, where dropping
    the schema and running every migration again costs about 400 (once per test, it was
    minutes of the suite). A test that changed the schema (dropped it, migrated only part
    of it, added a trigger) leaves another fingerprint behind: then the schema is rebuilt.
    """
    database = open_database(url)
    with database:
        if schema_fingerprint(database) == MIGRATED_SCHEMA[0]:
            tables = set(database.get_tables()) - {"schema_migrations"}
            with database.atomic():
                # No triggers: the tallies they keep are rows to empty like any other.
                database.execute_sql("SET LOCAL session_replication_role = replica")
                for table in sorted(tables):
                    database.execute_sql(f'DELETE FROM "{table}"')
            return
    reset_postgres(url)
    database = open_database(url)
    with database:
        migrations.migrate(database)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A migrated, empty SQLite file, made once per session; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "drop.sqlite3"
    database = open_database(f"sqlite:///{path}")
    with database:
        migrations.migrate(database)
    # Closing the last connection checkpointed the write-ahead log: one file to copy.
    assert not path.with_name("drop.sqlite3-wal").exists()
    return path


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
        empty_postgres(url)
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
    if backend == "sqlite":
        shutil.copyfile(
            request.getfixturevalue("migrated_sqlite"), config.data_dir / "drop.sqlite3"
        )
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
    from tests.support.tus import StoredPartials

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
