"""The dashboard's charts: a week of hourly_stat drawn as SVG, refreshed as an htmx fragment."""

from __future__ import annotations

import dataclasses
import datetime
import re

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import db
from drop.ops import trends
from drop.ops.hourly_counts import HourlyCounts, HourlyStat, hour_of
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, session_of
from tests.support.common import upload

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def counts() -> HourlyCounts:
    return HourlyCounts()


@pytest.fixture
def ops(config, clock, immediate_huey, counts):
    ops_config = dataclasses.replace(config, admin_token=ADMIN_TOKEN)
    app = create_app(ops_config, clock=clock, hourly_counts=counts)
    yield falcon.testing.TestClient(app)
    if not db.is_closed():
        db.close()


def this_hour(clock) -> datetime.datetime:
    return hour_of(clock().replace(tzinfo=datetime.UTC).timestamp())


def seed(clock, metric: str, values_by_age: dict[int, int]) -> None:
    """hourly_stat rows for `metric`, `age` hours before the current hour."""
    now = this_hour(clock)
    for age, value in values_by_age.items():
        HourlyStat.create(hour=now - age * HOUR, metric=metric, value=value)


def chart(page: str, chart_id: str) -> str:
    return re.search(rf'<figure class="chart" id="chart-{chart_id}">(.*?)</figure>', page, re.S)[1]


def points(fragment: str, metric: str) -> list[tuple[float, float]]:
    raw = re.search(rf'<polyline [^>]*data-metric="{metric}" points="([^"]+)"', fragment)[1]
    return [tuple(map(float, pair.split(","))) for pair in raw.split()]


def test_the_fragment_draws_three_accessible_svg_charts(ops):
    cookies, _ = session_of(ops)
    response = ops.simulate_get("/ops/charts", cookies=cookies)
    assert response.status_code == 200
    page = response.text
    assert page.count("<svg ") == 3
    assert page.count('role="img"') == 3
    for chart_id, title in [
        ("transfers", "Uploads and downloads"),
        ("bytes", "Bytes in and out"),
        ("refused", "Refused requests"),
    ]:
        svg = chart(page, chart_id)
        assert f'aria-labelledby="chart-{chart_id}-title"' in svg
        assert f'aria-describedby="chart-{chart_id}-desc"' in svg
        assert f'<title id="chart-{chart_id}-title">{title} per hour, last 7 days</title>' in svg
        assert f'<desc id="chart-{chart_id}-desc">Per hour from ' in svg
    # The page's Content-Security-Policy allows no inline style or script.
    assert "style=" not in page and "<script" not in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_each_chart_has_its_two_series_with_one_point_an_hour(ops):
    cookies, _ = session_of(ops)
    page = ops.simulate_get("/ops/charts", cookies=cookies).text
    for chart_id, metrics in [
        ("transfers", ("uploads", "downloads")),
        ("bytes", ("bytes_in", "bytes_out")),
        ("refused", ("answers_4xx", "blocked")),
    ]:
        svg = chart(page, chart_id)
        for metric in metrics:
            assert len(points(svg, metric)) == 7 * 24
            assert re.search(rf'<li class="series-[ab]" data-metric="{metric}">', svg)


def test_the_series_follow_the_hourly_counts(ops, clock):
    seed(clock, "uploads", {0: 3, 5: 40, 30: 7})
    seed(clock, "downloads", {5: 20})
    seed(clock, "uploads", {7 * 24: 999})  # eight days ago: outside the week
    cookies, _ = session_of(ops)
    svg = chart(ops.simulate_get("/ops/charts", cookies=cookies).text, "transfers")
    uploads = points(svg, "uploads")
    downloads = points(svg, "downloads")
    base, top = trends.TOP + trends.PLOT_HEIGHT, trends.TOP
    # The scale's top is 50 (the peak, 40, rounded up to 1, 2 or 5 × 10ⁿ).
    assert uploads[-1 - 5][1] == pytest.approx(base - 40 / 50 * (base - top), abs=0.1)
    assert downloads[-1 - 5][1] == pytest.approx(base - 20 / 50 * (base - top), abs=0.1)
    assert uploads[-1][1] == pytest.approx(base - 3 / 50 * (base - top), abs=0.1)
    assert uploads[0][1] == base  # an hour with no row is a zero
    assert "uploads\n          <strong>50</strong>" in svg  # 3 + 40 + 7, not the 999
    assert "peak 40/h" in svg
    assert ">50</text>" in svg and ">25</text>" in svg and ">0</text>" in svg


def test_bytes_are_shown_in_binary_units(ops, clock):
    seed(clock, "bytes_in", {2: 3 * 1024 * 1024})
    cookies, _ = session_of(ops)
    svg = chart(ops.simulate_get("/ops/charts", cookies=cookies).text, "bytes")
    assert "<strong>3.0 MiB</strong>" in svg
    assert ">5 MiB</text>" in svg and ">2.5 MiB</text>" in svg  # the scale's top and half


def test_hours_without_any_traffic_draw_flat_lines(ops):
    cookies, _ = session_of(ops)
    svg = chart(ops.simulate_get("/ops/charts", cookies=cookies).text, "refused")
    base = trends.TOP + trends.PLOT_HEIGHT
    assert {y for _, y in points(svg, "answers_4xx")} == {base}
    assert "4xx answers: 0 in total" in svg


def test_real_requests_reach_the_charts(ops, counts):
    upload(ops, b"z" * 2048)
    ops.simulate_get("/api/v1.0/file/" + "0" * 32)
    counts.flush()
    cookies, _ = session_of(ops)
    page = ops.simulate_get("/ops/charts", cookies=cookies).text
    assert "uploads: 1 in total" in chart(page, "transfers")
    assert "bytes in: 2.0 KiB in total" in chart(page, "bytes")
    assert "4xx answers: 1 in total" in chart(page, "refused")


def test_the_dashboard_shows_the_charts_and_refreshes_them_every_minute(ops):
    cookies, _ = session_of(ops)
    page = ops.simulate_get("/ops", cookies=cookies).text
    section = re.search(r'<section id="charts"[^>]*>', page)[0]
    assert 'hx-get="/ops/charts"' in section and 'hx-trigger="every 60s"' in section
    assert page.count("<svg ") == 3


def test_charts_need_a_session(ops):
    assert ops.simulate_get("/ops/charts").status_code == 303
    htmx = ops.simulate_get("/ops/charts", headers={"HX-Request": "true"})
    assert htmx.status_code == 403
    assert htmx.headers["HX-Redirect"] == "/ops/login"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_week_is_read_by_a_range_of_the_primary_key(ops, clock):
    """Never a scan: at most 168 hours × 6 metrics, whatever else the database holds.

    (PostgreSQL's plan on a full table is checked by bench/charts.py.)
    """
    plan = db.execute_sql(
        'EXPLAIN QUERY PLAN SELECT "hour", "metric", "value" FROM "hourly_stat" '
        'WHERE "hour" BETWEEN ? AND ?',  # read_hours's own statement
        (this_hour(clock) - 167 * HOUR, this_hour(clock)),
    ).fetchall()
    assert "USING INDEX sqlite_autoindex_hourly_stat_1 (hour>? AND hour<?)" in str(plan)
