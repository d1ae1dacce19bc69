"""The dashboard's charts and a drop's panel in real headless Chromium, against real gunicorn
and PostgreSQL.

Writes test-artifacts/screenshots/dashboard-charts-{desktop,phone}.png,
dashboard-manage-{desktop,phone}.png and charts-phone.png (the charts alone); docs/
holds copies of some that the README shows (copy them again when the dashboard changes).
"""

from __future__ import annotations

import datetime
import math
import random
import re

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from drop.db.models import Drop, open_database
from drop.ops.hourly_counts import HourlyStat, hour_of
from tests.support.browser import DESKTOP, SCREENSHOTS, launch_chromium, screenshot
from tests.support.common import UPLOAD, LiveServer, wait_until

ADMIN_TOKEN = "browser-test-admin-token"
WAIT_MS = 30_000
MIB = 1024 * 1024


def seed_a_week(config) -> dict[str, int]:
    """Six days and 23 hours of made-up traffic before this hour, with a daily rhythm and one
    afternoon of abuse (4xx and blocked answers); returns the uploads seeded."""
    rng = random.Random(12)
    now = hour_of(datetime.datetime.now(datetime.UTC).timestamp())
    rows = []
    uploads_total = 0
    for age in range(1, 7 * 24):
        hour = now - datetime.timedelta(hours=age)
        rhythm = 1 + math.sin((hour.hour - 9) / 24 * 2 * math.pi)
        uploads = int(4 + 18 * rhythm + rng.randint(0, 6))
        downloads = int(uploads * 1.6 + rng.randint(0, 8))
        abuse = 3 * 24 + 2 <= age <= 3 * 24 + 6
        refused = uploads // 3 + rng.randint(0, 4) + (120 if abuse else 0)
        blocked = (60 + rng.randint(0, 20)) if abuse else rng.randint(0, 1)
        uploads_total += uploads
        for metric, value in (
            ("uploads", uploads),
            ("downloads", downloads),
            ("bytes_in", int(uploads * 2.5 * MIB)),
            ("bytes_out", int(downloads * 2.1 * MIB)),
            ("answers_4xx", refused),
            ("blocked", blocked),
        ):
            rows.append({"hour": hour, "metric": metric, "value": value})
    database = open_database(config.effective_database_url)
    with database, database.bind_ctx([HourlyStat]):
        HourlyStat.insert_many(rows).execute()
    return {"uploads": uploads_total}


def put(server, content: bytes, filename: str, **fields) -> dict:
    response = requests.put(
        server.url + UPLOAD, files={"file": (filename, content)}, data=fields, timeout=10
    )
    response.raise_for_status()
    return response.json()


def this_hours_uploads(config) -> int:
    now = hour_of(datetime.datetime.now(datetime.UTC).timestamp())
    database = open_database(config.effective_database_url)
    with database, database.bind_ctx([HourlyStat]):
        row = HourlyStat.get_or_none(
            # This hour only: the hours before it hold the seeded week.
            (HourlyStat.hour >= now) & (HourlyStat.metric == "uploads")
        )
        return row.value if row else 0


def drop_row(config, token: str) -> Drop:
    database = open_database(config.effective_database_url)
    with database, database.bind_ctx([Drop]):
        return Drop.get(Drop.token == token)


@pytest.mark.parametrize("backend", ["postgres"])
def test_operator_reads_the_weeks_charts_and_manages_a_drop(config):
    seeded = seed_a_week(config)
    with (
        LiveServer(
            config, with_worker=True, DROP_ADMIN_TOKEN=ADMIN_TOKEN, DROP_STATS_FLUSH_SECONDS=1
        ) as server,
        sync_playwright() as playwright,
    ):
        report = put(server, b"%PDF-1.7 " + b"x" * 180_000, "quarterly-report.pdf", max_downloads=3)
        photo = put(server, b"a" * 42_000, "team-photo.jpg")
        requests.get(photo["url"], timeout=10).raise_for_status()
        put(server, b"secret " * 2000, "credentials-backup.zip")
        for _ in range(4):
            requests.get(server.url + UPLOAD + "/" + "0" * 32, timeout=10)
        assert wait_until(lambda: this_hours_uploads(config) >= 3, timeout=20)

        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=DESKTOP)
            blocked_by_csp = []
            page.on(
                "console",
                lambda m: blocked_by_csp.append(m.text) if "Content Security" in m.text else None,
            )
            page.goto(server.url + "/ops")
            page.fill("#token", ADMIN_TOKEN)
            page.click("text=Log in")
            expect(page.locator("h1")).to_have_text("Operator dashboard")

            charts = page.locator("#charts figure.chart")
            expect(charts).to_have_count(3)
            expect(page.locator("#chart-transfers svg")).to_have_accessible_name(
                "Uploads and downloads per hour, last 7 days"
            )
            expect(page.locator("#chart-transfers svg")).to_have_accessible_description(
                re.compile(r"^Per hour from .*; downloads: [\d,]+ in total")
            )
            uploads = page.locator('#chart-transfers li[data-metric="uploads"] strong')
            expect(uploads).to_have_text(f"{seeded['uploads'] + 3:,}")
            # Drawn at a readable size: three across on a desktop...
            box = page.locator("#chart-transfers svg").bounding_box()
            assert 300 <= box["width"] <= 420, box
            screenshot(page, "dashboard-charts")
            # ... one across on a phone, as wide as the screen allows.
            page.set_viewport_size({"width": 390, "height": 844})
            box = page.locator("#chart-transfers svg").bounding_box()
            assert 300 <= box["width"] <= 390, box
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.locator("#charts").screenshot(path=str(SCREENSHOTS / "charts-phone.png"))
            page.set_viewport_size(DESKTOP)

            # A drop's panel: extend it, allow more downloads, fetch it without counting.
            row = page.locator("#drops tbody tr", has_text="quarterly-report.pdf")
            row.get_by_role("button", name="Manage quarterly-report.pdf").click()
            panel = page.locator("dialog.manage")
            expect(panel).to_be_visible(timeout=WAIT_MS)
            panel.locator("#manage-expires-in").select_option(label="in 7 days from now")
            panel.get_by_role("button", name="Set expiry").click()
            expect(panel.get_by_role("status")).to_contain_text("It now expires at")
            panel.locator("#manage-max-downloads").fill("9")
            panel.get_by_role("button", name="Set limit").click()
            expect(panel.get_by_role("status")).to_have_text("It now allows 9 downloads in all.")
            expect(row.locator("td.num").nth(1)).to_have_text("0 / 9")  # the row follows
            screenshot(page, "dashboard-manage")

            with page.expect_download() as fetched:
                panel.get_by_role("button", name="Download without counting").click()
            download = fetched.value
            assert download.suggested_filename == "quarterly-report.pdf"
            with open(download.path(), "rb") as saved:
                assert saved.read().startswith(b"%PDF-1.7 ")
            stored = drop_row(config, report["token"])
            assert (stored.downloads, stored.max_downloads) == (0, 9)
            assert stored.expires_at > datetime.datetime.now() + datetime.timedelta(days=6)

            panel.get_by_role("button", name="Close").click()
            expect(panel).to_be_hidden()
            page.goto(server.url + "/ops/audit")
            for label in (
                "changed the expiry",
                "changed the download limit",
                "downloaded without counting",
            ):
                expect(page.locator("#audit tbody")).to_contain_text(label)
            assert blocked_by_csp == []
        finally:
            browser.close()
