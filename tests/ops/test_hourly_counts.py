"""Hourly counts for the dashboard's charts: what the app counts, and how it reaches hourly_stat."""

from __future__ import annotations

import datetime
import time

import falcon
import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import db
from drop.ops import hourly_counts
from drop.ops.hourly_counts import HourlyCounts, HourlyStat, count_blocked, hour_of
from tests.support.common import upload


@pytest.fixture
def counts() -> HourlyCounts:
    return HourlyCounts()  # no thread: the tests flush


@pytest.fixture
def client(config, clock, immediate_huey, counts):
    app = create_app(config, clock=clock, hourly_counts=counts)
    app.add_route("/test/blocked-address", BlockedAddress())
    app.add_route("/test/blocked-content", BlockedContent())
    yield falcon.testing.TestClient(app)
    if not db.is_closed():
        db.close()


class BlockedAddress:
    """Stands for an address block: a 403 that says it is a block."""

    def on_put(self, req, resp):
        count_blocked(req)
        raise falcon.HTTPForbidden(description="uploads from this address are blocked")


class BlockedContent:
    """Stands for a content block: 451."""

    def on_get(self, req, resp):
        raise falcon.HTTPError(falcon.HTTP_451)


def totals() -> dict[str, int]:
    """Every metric summed over the hours in the table (a test may straddle an hour)."""
    summed: dict[str, int] = {}
    for row in HourlyStat.select():
        summed[row.metric] = summed.get(row.metric, 0) + row.value
    return summed


def test_uploads_downloads_and_their_bytes_are_counted(client, counts):
    upload(client, b"x" * 1500)
    token = upload(client, b"y" * 500, max_downloads=2).json["token"]
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 200
    assert client.simulate_get(f"/api/v1.0/file/{token}/named.txt").status_code == 200
    assert totals() == {}  # nothing written yet: counting costs a request no write

    assert counts.flush()
    assert totals() == {
        "uploads": 2,
        "bytes_in": 2000,
        "downloads": 2,
        "bytes_out": 1000,
    }


def test_counts_land_in_the_hour_they_happened(client, counts):
    before = hour_of(time.time())
    upload(client)
    counts.flush()
    hours = {row.hour for row in HourlyStat.select()}
    assert hours <= {before, hour_of(time.time())}
    assert all(hour.minute == hour.second == 0 for hour in hours)


def test_4xx_answers_are_counted_and_others_are_not(client, counts):
    token = upload(client).json["token"]  # 201
    client.simulate_get(f"/api/v1.0/file/{token}")  # 200, the last download
    assert client.simulate_get(f"/api/v1.0/file/{token}").status_code == 410
    assert client.simulate_get("/api/v1.0/file/" + "0" * 32).status_code == 404
    assert client.simulate_get("/api/v1.0/file/not-a-token").status_code == 404
    assert client.simulate_put("/api/v1.0/file", body=b"junk").status_code == 400
    assert client.simulate_get("/healthz").status_code == 200
    counts.flush()
    assert totals()["answers_4xx"] == 4
    assert "blocked" not in totals()


def test_a_404_answered_from_the_redis_cache_counts_too(client, counts, backend):
    unknown = "/api/v1.0/file/" + "0" * 32
    assert client.simulate_get(unknown).status_code == 404
    again = client.simulate_get(unknown)
    assert again.status_code == 404
    if backend == "postgres":  # with Redis: the second never reached the database
        assert again.headers["X-Drop-Cache"] == "hit"
    counts.flush()
    assert totals()["answers_4xx"] == 2


def test_blocked_requests_are_counted_by_flag_and_451(client, counts):
    assert client.simulate_put("/test/blocked-address").status_code == 403
    assert client.simulate_get("/test/blocked-content").status_code == 451
    assert client.simulate_get("/api/v1.0/file/" + "0" * 32).status_code == 404  # no block
    counts.flush()
    assert totals()["blocked"] == 2
    assert totals()["answers_4xx"] == 3


def test_a_second_flush_adds_only_what_is_new(client, counts):
    upload(client, b"abc")
    counts.flush()
    counts.flush()  # nothing pending: writes nothing
    upload(client, b"defg")
    counts.flush()
    assert totals() == {"uploads": 2, "bytes_in": 7}


def test_counts_of_several_processes_add_up_in_the_same_rows(config, client, counts):
    """Each gunicorn worker (and each node) flushes its own counts: the upsert adds them."""
    upload(client, b"abc")
    other_worker = HourlyCounts()
    other_worker.add(hourly_counts.UPLOADS)
    other_worker.add(hourly_counts.BYTES_IN, 10)
    counts.flush()
    other_worker.flush()
    assert totals() == {"uploads": 2, "bytes_in": 13}
    assert HourlyStat.select().count() == 2  # one row per metric and hour


def test_counts_are_kept_while_the_database_refuses_them(client, counts, caplog):
    upload(client, b"abc")
    db.execute_sql('ALTER TABLE "hourly_stat" RENAME TO "hourly_stat_away"')
    try:
        assert not counts.flush()
    finally:
        db.execute_sql('ALTER TABLE "hourly_stat_away" RENAME TO "hourly_stat"')
    assert "hourly stats: 2 counts kept for later" in caplog.text
    upload(client, b"defg")
    assert counts.flush()
    assert totals() == {"uploads": 2, "bytes_in": 7}


def test_trim_keeps_eight_days(client, clock):
    now = clock()
    hour = hour_of(now.replace(tzinfo=datetime.UTC).timestamp())
    for age_hours in (0, 24, 8 * 24 - 1, 8 * 24 + 1, 30 * 24):
        HourlyStat.create(
            hour=hour - datetime.timedelta(hours=age_hours), metric="uploads", value=age_hours
        )
    assert hourly_counts.trim(now) == 2
    assert sorted(row.value for row in HourlyStat.select()) == [0, 24, 8 * 24 - 1]


def test_the_worker_task_trims_old_hours(client, clock):
    from drop.tasks import trim_hourly_stats

    old = hour_of(time.time()) - datetime.timedelta(days=9)
    HourlyStat.create(hour=old, metric="uploads", value=1)
    HourlyStat.create(hour=hour_of(time.time()), metric="uploads", value=2)
    trim_hourly_stats()  # immediate mode: runs inline
    db.connect(reuse_if_open=True)
    assert [row.value for row in HourlyStat.select()] == [2]


def test_counting_waits_in_memory_until_the_flush(counts):
    clock_seconds = [7200.0]
    counts = HourlyCounts(clock=lambda: clock_seconds[0])
    counts.add(hourly_counts.UPLOADS)
    clock_seconds[0] += 3600
    counts.add(hourly_counts.UPLOADS, 2)
    start = datetime.datetime(1970, 1, 1, 2)
    assert counts.pending() == {
        (start, "uploads"): 1,
        (start + datetime.timedelta(hours=1), "uploads"): 2,
    }


def test_counts_never_written_are_forgotten_after_eight_days():
    seconds = [0.0]
    counts = HourlyCounts(clock=lambda: seconds[0])
    counts.add(hourly_counts.UPLOADS)
    seconds[0] = (8 * 24 + 1) * 3600.0
    counts.add(hourly_counts.UPLOADS)
    assert list(counts.pending().values()) == [1]
    assert list(counts.pending())[0][0] == datetime.datetime(1970, 1, 9, 1)
