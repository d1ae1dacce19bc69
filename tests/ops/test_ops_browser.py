"""The dashboard in real headless Chromium against real gunicorn, Huey, PostgreSQL and Redis.

Also writes test-artifacts/screenshots/dashboard.png; docs/dashboard.png, the picture the
README shows, is a copy of it (copy it again when the dashboard changes).
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from tests.support.common import ROOT, UPLOAD, LiveServer

ADMIN_TOKEN = "browser-test-admin-token"
SCREENSHOT = ROOT / "test-artifacts" / "screenshots" / "dashboard.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Generous: the cards refresh every 5 seconds and the machine may be busy.
WAIT_MS = 30_000


def put(server, content: bytes, filename: str, **fields) -> dict:
    response = requests.put(
        server.url + UPLOAD, files={"file": (filename, content)}, data=fields, timeout=10
    )
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("backend", ["postgres"])
def test_operator_logs_in_watches_an_upload_arrive_and_revokes_it(config):
    with (
        LiveServer(config, with_worker=True, DROP_ADMIN_TOKEN=ADMIN_TOKEN) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url + "/ops")
            page.fill("#token", ADMIN_TOKEN)
            page.click("text=Log in")
            expect(page.locator("h1")).to_have_text("Operator dashboard")
            expect(page.locator("#stat-uploads")).to_have_text("0")

            # Files arrive through the API while the page is open.
            put(server, b"%PDF-1.7 " + b"x" * 180_000, "quarterly-report.pdf", max_downloads=3)
            fetched = put(server, b"a" * 42_000, "team-photo.jpg")
            requests.get(fetched["url"], timeout=10).raise_for_status()
            doomed = put(server, b"secret " * 2000, "credentials-backup.zip", max_downloads=5)

            expect(page.locator("#stat-uploads")).to_have_text("3", timeout=WAIT_MS)
            expect(page.locator("#stat-live")).to_have_text("2")
            expect(page.locator("#stat-downloads")).to_have_text("1")
            expect(page.locator("#stat-worker")).to_have_text("alive")

            # The table does not poll; a filter (or a reload) fetches the new rows.
            page.fill("#filter-name", "credentials")
            row = page.locator("#drops tbody tr", has_text="credentials-backup.zip")
            expect(row).to_have_count(1, timeout=WAIT_MS)
            page.fill("#filter-name", "")
            expect(page.locator("#drops tbody tr")).to_have_count(3, timeout=WAIT_MS)

            page.once("dialog", lambda dialog: dialog.accept())
            row.get_by_role("button", name="Revoke").click()
            expect(row.locator(".status")).to_have_text("revoked", timeout=WAIT_MS)
            expect(page.locator("#stat-live")).to_have_text("1", timeout=WAIT_MS)

            # Purging runs on the real worker; the page polls until it reports.
            page.once("dialog", lambda dialog: dialog.accept())
            page.get_by_role("button", name="Purge expired now").click()
            expect(page.locator("#purge-status")).to_contain_text(
                "Purge finished: 0 drops removed", timeout=WAIT_MS
            )

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
        assert requests.get(doomed["url"], timeout=10).status_code == 410
        assert not (config.data_dir / "blobs" / doomed["token"][:2] / doomed["token"]).exists()
