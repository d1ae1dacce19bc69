"""Abuse reports: "Report this file" on a share page, the dashboard's list and its actions,
and the abuse contact in the footer and in /.well-known/security.txt."""

from __future__ import annotations

import dataclasses
import datetime
import re
from urllib.parse import urlencode

import falcon.testing
import pytest

from drop.app import create_app
from drop.config import Config, ConfigError
from drop.db.models import LIVE, REVOKED, Drop, db
from drop.protection import audit, blocks
from drop.protection.audit import AuditEvent
from drop.protection.reports import DISMISSED, OPEN, PER_PAGE, RESOLVED, AbuseReport
from drop.resources.page_report import FORM_COOKIE, REPORTS_PER_HOUR
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, session_of
from tests.support.common import UPLOAD, multipart
from tests.support.html_checks import foreign_urls, unlabelled_controls
from tests.support.ops import blob_exists

UPLOADER = "203.0.113.7"
CONTACT = "abuse@drop.example"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OWN_ORIGIN = "http://falconframework.org"


@pytest.fixture
def site(config, clock, immediate_huey):
    """The app with a dashboard and an abuse contact."""
    settings = dataclasses.replace(
        config, admin_token=ADMIN_TOKEN, abuse_contact="mailto:" + CONTACT
    )
    yield falcon.testing.TestClient(create_app(settings, clock=clock))
    if not db.is_closed():
        db.close()


def uploaded(client, content: bytes = b"phishing kit\n", **fields) -> str:
    body, headers = multipart(content, filename="invoice.html", **fields)
    response = client.simulate_put(UPLOAD, body=body, headers={**headers, "X-Real-IP": UPLOADER})
    assert response.status_code == 201, response.text
    return response.json["token"]


def open_form(client, token: str, **kwargs) -> tuple[str, str]:
    """GET the report form; return its form token and the cookie echoing it."""
    page = client.simulate_get(f"/d/{token}/report", **kwargs)
    assert page.status_code == 200, page.text
    field = re.search(r'name="form_token" value="([0-9a-f]+)"', page.text).group(1)
    return field, page.cookies[FORM_COOKIE].value


def send_report(client, token: str, *, cookie: str | None = None, form_token=None, **fields):
    if cookie is None:
        form_token, cookie = open_form(client, token)
    body = urlencode({"form_token": form_token or "", "reason": "phishing", **fields})
    return client.simulate_post(
        f"/d/{token}/report", body=body, headers=FORM, cookies={FORM_COOKIE: cookie}
    )


def test_the_share_page_links_to_the_report_form(site):
    token = uploaded(site)
    assert f'href="/d/{token}/report">Report this file' in site.simulate_get(f"/d/{token}").text


def test_the_form_sets_a_strict_same_site_cookie_and_passes_the_html_checks(site):
    token = uploaded(site)
    page = site.simulate_get(f"/d/{token}/report")
    cookie = page.cookies[FORM_COOKIE]
    assert cookie.same_site == "Strict" and cookie.http_only
    assert cookie.path == f"/d/{token}/report"
    assert unlabelled_controls(page.text) == []
    assert foreign_urls(page.text, OWN_ORIGIN) == []
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "Something else" in page.text and "invoice.html" in page.text


def test_a_report_is_stored_with_its_reason_details_and_contact(site, clock):
    token = uploaded(site)
    response = send_report(
        site, token, reason="phishing", details="Asks for my bank login.", contact="me@example.org"
    )
    assert response.status_code == 201, response.text
    assert "Thank you" in response.text
    [report] = AbuseReport.select()
    assert report.drop_id == Drop.get(Drop.token == token).id
    assert (report.reason, report.details, report.contact) == (
        "phishing",
        "Asks for my bank login.",
        "me@example.org",
    )
    assert (report.status, report.created_at) == (OPEN, clock())
    # Reporting neither downloads nor changes the drop.
    assert Drop.get(Drop.token == token).downloads == 0
    # The trail shows it arrive, with nothing about who sent it.
    [event] = AuditEvent.select()
    assert (event.action, event.actor, event.address) == (audit.REPORT_FILED, "anonymous", None)
    assert event.details == {"report_id": report.id, "reason": "phishing"}
    assert token not in event.target and event.target.endswith(token[:8])


def test_a_protected_drop_can_be_reported_without_revealing_its_name(site):
    token = uploaded(site, password="pw")
    page = site.simulate_get(f"/d/{token}/report")
    assert "invoice.html" not in page.text and "password-protected" in page.text
    assert send_report(site, token).status_code == 201


def test_a_report_without_the_forms_cookie_is_refused(site):
    token = uploaded(site)
    form_token, _ = open_form(site, token)
    body = urlencode({"form_token": form_token, "reason": "malware"})
    assert site.simulate_post(f"/d/{token}/report", body=body, headers=FORM).status_code == 403
    forged = send_report(site, token, cookie="f" * 32, form_token="0" * 32)
    assert forged.status_code == 403
    assert AbuseReport.select().count() == 0


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"reason": "boring"}, "choose what is wrong"),
        ({"contact": "not an address"}, "e-mail address"),
        ({"details": "x" * 2001}, "at most 2000"),
        # PostgreSQL refuses a NUL in text: a 400 saying what to fix, never a 500.
        ({"contact": "a\x00b@drop.example"}, "e-mail address"),
    ],
)
def test_a_bad_report_shows_the_form_again_with_what_to_fix(site, fields, message):
    token = uploaded(site)
    response = send_report(site, token, **fields)
    assert response.status_code == 400
    assert message in response.text and 'role="alert"' in response.text
    assert AbuseReport.select().count() == 0


def test_reports_of_a_missing_or_gone_drop_are_404_and_410(site):
    assert site.simulate_get("/d/" + "0" * 32 + "/report").status_code == 404
    token = uploaded(site)
    site.simulate_get(f"{UPLOAD}/{token}")  # its one download
    assert site.simulate_get(f"/d/{token}/report").status_code == 410


def test_reports_are_rate_limited_per_client_address(site):
    token = uploaded(site)
    for _ in range(REPORTS_PER_HOUR):
        assert send_report(site, token).status_code == 201
    refused = send_report(site, token)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert AbuseReport.select().count() == REPORTS_PER_HOUR
    # Another address is counted on its own.
    form_token, cookie = open_form(site, token)
    other = site.simulate_post(
        f"/d/{token}/report",
        body=urlencode({"form_token": form_token, "reason": "other"}),
        headers={**FORM, "X-Real-IP": "192.0.2.50"},
        cookies={FORM_COOKIE: cookie},
    )
    assert other.status_code == 201


# The dashboard


def report_of(token: str) -> AbuseReport:
    return AbuseReport.get(AbuseReport.drop_id == Drop.get(Drop.token == token).id)


def test_the_dashboard_lists_open_reports_with_the_drop_and_its_uploader(site):
    cookies, _ = session_of(site)
    token = uploaded(site)
    send_report(site, token, details="fake bank page")
    page = site.simulate_get("/ops/reports", cookies=cookies)
    assert page.status_code == 200
    assert "invoice.html" in page.text and UPLOADER in page.text and "fake bank page" in page.text
    assert "Phishing or fraud" in page.text
    assert unlabelled_controls(page.text) == []
    # The public never sees the uploader's address.
    assert UPLOADER not in site.simulate_get(f"/d/{token}").text
    assert site.simulate_get("/ops/reports").status_code == 303  # no session: to the login


def test_the_dashboard_pages_through_more_reports_than_fit_on_one(site, clock):
    cookies, _ = session_of(site)
    token = uploaded(site)
    drop_id = Drop.get(Drop.token == token).id
    # The oldest report, then a page's worth of spam after it.
    for number in range(PER_PAGE + 1):
        AbuseReport.create(
            drop_id=drop_id,
            reason="other",
            details=f"report number {number}",
            created_at=clock() + datetime.timedelta(seconds=number),
        )
    first = site.simulate_get("/ops/reports", cookies=cookies)
    assert "report number 0<" not in first.text
    assert f"{PER_PAGE + 1} reports · page 1 of 2" in first.text
    older = site.simulate_get(
        "/ops/reports", params={"status": "open", "page": "2"}, cookies=cookies
    )
    assert "report number 0<" in older.text and "report number 1<" not in older.text
    assert "page 2 of 2" in older.text
    too_far = site.simulate_get("/ops/reports", params={"page": "100001"}, cookies=cookies)
    assert too_far.status_code == 400


def test_revoking_from_a_report_ends_the_drop_closes_the_report_and_records_it(site, config):
    cookies, csrf = session_of(site)
    token = uploaded(site)
    send_report(site, token)
    report = report_of(token)
    response = site.simulate_post(
        f"/ops/reports/{report.id}/revoke", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200, response.text
    assert "resolved: revoked" in response.text
    assert Drop.get(Drop.token == token).status == REVOKED
    assert not blob_exists(config, token)
    assert (report_of(token).status, report_of(token).resolution) == (RESOLVED, "revoked")
    [event] = AuditEvent.select().where(AuditEvent.action == audit.REVOKE)
    assert event.details["report_id"] == report.id


def test_dismissing_a_report_leaves_the_drop_and_records_it(site):
    cookies, csrf = session_of(site)
    token = uploaded(site)
    send_report(site, token)
    report = report_of(token)
    response = site.simulate_post(
        f"/ops/reports/{report.id}/dismiss", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    assert report_of(token).status == DISMISSED
    assert Drop.get(Drop.token == token).status == LIVE
    [event] = AuditEvent.select().where(AuditEvent.action == audit.REPORT_DISMISSED)
    assert event.target == f"report {report.id}"
    assert "No open reports" in site.simulate_get("/ops/reports", cookies=cookies).text


def test_blocking_from_a_report_closes_it(site):
    cookies, csrf = session_of(site)
    token = uploaded(site)
    send_report(site, token)
    report = report_of(token)
    confirm = site.simulate_get(
        "/ops/blocks/new",
        params={"kind": "address", "drop_id": str(report.drop_id), "report_id": str(report.id)},
        cookies=cookies,
    )
    assert f'name="report_id" value="{report.id}"' in confirm.text
    assert f"abuse report {report.id}: Phishing or fraud" in confirm.text
    body = urlencode(
        {"kind": "address", "value": UPLOADER, "reason": "phishing", "report_id": report.id}
    )
    done = site.simulate_post(
        "/ops/blocks", body=body, cookies=cookies, headers={**FORM, "X-CSRF-Token": csrf}
    )
    assert done.status_code == 201, done.text
    assert (report_of(token).status, report_of(token).resolution) == (RESOLVED, "blocked_address")
    assert blocks.address_block(UPLOADER) is not None


def test_a_report_action_needs_the_csrf_token(site):
    cookies, _ = session_of(site)
    token = uploaded(site)
    send_report(site, token)
    report = report_of(token)
    response = site.simulate_post(f"/ops/reports/{report.id}/revoke", cookies=cookies)
    assert response.status_code == 403
    assert Drop.get(Drop.token == token).status == LIVE
    assert site.simulate_post(
        f"/ops/reports/{report.id}/explode", cookies=cookies, headers={"X-CSRF-Token": "x"}
    ).status_code in (403, 404)


# The abuse contact


def test_the_footer_of_public_pages_names_the_abuse_contact(site):
    token = uploaded(site)
    for path in ("/", f"/d/{token}", f"/d/{token}/report", "/d/" + "0" * 32):
        page = site.simulate_get(path)
        assert f'<a href="mailto:{CONTACT}">{CONTACT}</a>' in page.text, path
        assert foreign_urls(page.text, OWN_ORIGIN) == [], path


def test_without_a_contact_the_footer_names_none(client):
    assert "Report abuse" not in client.simulate_get("/").text


def test_security_txt_follows_rfc_9116(site, clock):
    response = site.simulate_get("/.well-known/security.txt")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    lines = dict(line.split(": ", 1) for line in response.text.splitlines())
    assert lines["Contact"] == f"mailto:{CONTACT}"
    expires = datetime.datetime.strptime(lines["Expires"], "%Y-%m-%dT%H:%M:%SZ")
    assert clock() < expires <= clock() + datetime.timedelta(days=365)


def test_security_txt_is_404_without_a_contact(client):
    assert client.simulate_get("/.well-known/security.txt").status_code == 404


def test_the_abuse_contact_setting_accepts_addresses_and_uris_only():
    assert Config.from_env({"DROP_ABUSE_CONTACT": CONTACT}).abuse_contact == f"mailto:{CONTACT}"
    url = "https://drop.example/abuse"
    assert Config.from_env({"DROP_ABUSE_CONTACT": url}).abuse_contact == url
    assert Config.from_env({}).abuse_contact is None
    for bad in ("ftp://x", "just words", "mailto:a b@example.org", "https://é.example"):
        with pytest.raises(ConfigError, match="DROP_ABUSE_CONTACT"):
            Config.from_env({"DROP_ABUSE_CONTACT": bad})
