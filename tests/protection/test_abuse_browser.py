"""The abuse flow in real headless Chromium against real gunicorn and PostgreSQL + Redis:
a visitor reports a file from its share page, the operator sees the report on the dashboard,
blocks the uploader's address and the content, and the audit trail shows every step.

Screenshots of the reports page, the dashboard and the blocks page at desktop and phone
widths go to test-artifacts/screenshots/abuse-*.png.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from tests.support.browser import DESKTOP, launch_chromium, screenshot
from tests.support.common import UPLOAD, LiveServer

ADMIN_TOKEN = "browser-test-admin-token"
UPLOADER = {"X-Real-IP": "203.0.113.7"}  # the client nginx (a trusted proxy) saw
SOMEONE_ELSE = {"X-Real-IP": "198.51.100.23"}
CONTENT = b"<html>Enter your bank password here</html>\n" * 50
WAIT_MS = 20_000


def put(server, content: bytes, filename: str, headers) -> requests.Response:
    return requests.put(
        server.url + UPLOAD,
        files={"file": (filename, content)},
        data={"max_downloads": "5"},
        headers=headers,
        timeout=10,
    )


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_reported_file_is_blocked_by_uploader_and_content_and_audited(config):
    with (
        LiveServer(
            config,
            with_worker=True,
            DROP_ADMIN_TOKEN=ADMIN_TOKEN,
            DROP_ABUSE_CONTACT="abuse@drop.example",
        ) as server,
        sync_playwright() as playwright,
    ):
        made = put(server, CONTENT, "bank-login.html", UPLOADER)
        assert made.status_code == 201, made.text
        share_url = made.json()["share_url"]
        put(server, b"holiday photos", "holiday.zip", SOMEONE_ELSE).raise_for_status()

        browser = launch_chromium(playwright)
        try:
            # A visitor reports the file from its share page.
            visitor = browser.new_page(viewport=DESKTOP)
            visitor.goto(share_url)
            expect(visitor.locator(".site-footer")).to_contain_text("abuse@drop.example")
            visitor.get_by_role("link", name="Report this file").click()
            expect(visitor.locator("h1")).to_have_text("Report this file")
            visitor.get_by_label("Phishing or fraud").check()
            visitor.get_by_label("Details").fill("A fake login page for my bank.")
            screenshot(visitor, "abuse-report-form")
            visitor.get_by_role("button", name="Send report").click()
            expect(visitor.locator("h1")).to_have_text("Thank you")

            # The operator finds it on the dashboard, with the uploader's address.
            operator = browser.new_context(viewport=DESKTOP).new_page()
            operator.goto(server.url + "/ops")
            operator.fill("#token", ADMIN_TOKEN)
            operator.click("text=Log in")
            expect(operator.locator("h1")).to_have_text("Operator dashboard")
            operator.get_by_role("link", name="Reports").click()
            report = operator.locator(".report-item", has_text="bank-login.html")
            expect(report).to_contain_text("Phishing or fraud")
            expect(report).to_contain_text("A fake login page for my bank.")
            expect(report).to_contain_text("203.0.113.7")

            # Block the uploader: a confirmation step first, then the block.
            report.get_by_role("button", name="Block uploader").click()
            confirm = operator.locator("#block-confirm")
            expect(confirm).to_contain_text("Block this uploader?")
            expect(operator.locator("#block-value")).to_have_value("203.0.113.7")
            screenshot(operator, "abuse-reports-confirm")
            confirm.get_by_role("button", name="Block uploader").click()
            expect(operator.locator("#ops-dialog")).to_contain_text(
                "Blocked address 203.0.113.7/32", timeout=WAIT_MS
            )
            # The report is closed, so the open list empties itself.
            expect(operator.locator("#reports")).to_contain_text("No open reports")

            refused = put(server, b"more spam", "again.html", UPLOADER)
            assert refused.status_code == 403
            assert "blocked" in refused.json()["detail"]

            # Block the content from the drop's row on the dashboard.
            operator.get_by_role("link", name="Dashboard").click()
            row = operator.locator("#drops tbody tr", has_text="bank-login.html")
            row.get_by_role("button", name="Block content").click()
            expect(operator.locator("#block-confirm")).to_contain_text("Block this content?")
            operator.get_by_label("Reason").fill("phishing page")
            operator.locator("#block-confirm").get_by_role("button", name="Block content").click()
            expect(operator.locator("#ops-dialog")).to_contain_text(
                "Blocked content", timeout=WAIT_MS
            )
            operator.reload()  # the table does not poll
            expect(row.locator(".status-withheld")).to_have_text("content blocked")
            screenshot(operator, "abuse-dashboard")

            # The same bytes from anyone else are refused; the existing link answers 451.
            again = put(server, CONTENT, "renamed.html", SOMEONE_ELSE)
            assert again.status_code == 403 and "phishing page" in again.json()["detail"]
            visitor.goto(share_url)
            expect(visitor.locator("h1")).to_have_text("This file is not available")
            screenshot(visitor, "abuse-withheld")
            direct = requests.get(made.json()["url"], timeout=10)
            assert direct.status_code == 451
            assert direct.json()["error"] == "Unavailable For Legal Reasons"
            assert CONTENT not in direct.content

            operator.get_by_role("link", name="Blocks").click()
            expect(operator.locator("#blocks")).to_contain_text("203.0.113.7/32")
            expect(operator.locator("#blocks")).to_contain_text("phishing page")
            screenshot(operator, "abuse-blocks")

            # Every step is in the audit trail, newest first.
            operator.get_by_role("link", name="Audit trail").click()
            actions = operator.locator("#audit tbody tr td:nth-child(4)")
            expect(actions).to_have_text(
                ["blocked", "blocked", "logged in", "abuse report received"]
            )
            trail = operator.locator("#audit")
            expect(trail).to_contain_text("address 203.0.113.7/32")
            expect(trail).to_contain_text("content ")
            expect(trail).to_contain_text("report id 1")
            screenshot(operator, "abuse-audit")
        finally:
            browser.close()
        # Counted by whichever worker refused them, summed over all of them.
        metrics = requests.get(server.url + "/metrics", timeout=10).text
        assert 'drop_blocked_uploads_total{kind="address"} 1.0' in metrics
        assert 'drop_blocked_uploads_total{kind="content"} 1.0' in metrics
        assert re.search(r"^drop_unavailable_for_legal_reasons_total [1-9]", metrics, re.M)
