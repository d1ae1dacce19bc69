"""Per-drop edits from the dashboard: expiry, download limit, and a download that counts nothing."""

from __future__ import annotations

import dataclasses
import datetime
import re

import falcon.testing
import pytest

from drop.app import create_app
from drop.db.models import DownloadEvent, Drop, db
from drop.ops.hourly_counts import HourlyCounts
from drop.protection.audit import AuditEvent
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, drop_id, session_of
from tests.support.common import upload
from tests.support.ops import blob_exists, plant_drop

FORM = "application/x-www-form-urlencoded"
MAX_EXPIRES_IN = 7 * 24 * 3600


@pytest.fixture
def counts() -> HourlyCounts:
    return HourlyCounts()


@pytest.fixture
def ops_config(config):
    return dataclasses.replace(
        config, admin_token=ADMIN_TOKEN, max_expires_in=MAX_EXPIRES_IN, max_downloads=100
    )


@pytest.fixture
def ops(ops_config, clock, immediate_huey, counts):
    app = create_app(ops_config, clock=clock, hourly_counts=counts)
    yield falcon.testing.TestClient(app)
    if not db.is_closed():
        db.close()


@pytest.fixture
def session(ops):
    return session_of(ops)


def post(ops, session, path: str, body: str = "", csrf: bool = True):
    cookies, token = session
    headers = {"Content-Type": FORM, **({"X-CSRF-Token": token} if csrf else {})}
    return ops.simulate_post(path, cookies=cookies, body=body, headers=headers)


def said(response) -> list[str]:
    return re.findall(r'role="(?:status|alert)">([^<]*)<', response.text)


def audit_events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.select().where(AuditEvent.action == action))


def test_the_panel_shows_a_live_drops_edits(ops, session):
    token = upload(ops, b"abc", filename="report.pdf", max_downloads=3).json["token"]
    cookies, _ = session
    panel = ops.simulate_get(f"/ops/drops/{drop_id(token)}", cookies=cookies)
    assert panel.status_code == 200
    assert "<dialog open" in panel.text and "report.pdf" in panel.text
    assert f'hx-post="/ops/drops/{drop_id(token)}/expiry"' in panel.text
    assert 'min="1" max="100" value="3"' in panel.text
    assert "Download without counting" in panel.text
    assert token not in panel.text  # the whole token is the download key


def test_extending_the_expiry_within_the_maximum(ops, session, clock):
    token = upload(ops, b"abc").json["token"]
    response = post(ops, session, f"/ops/drops/{drop_id(token)}/expiry", "expires_in=259200")
    assert response.status_code == 200, response.text
    expected = clock() + datetime.timedelta(days=3)
    assert Drop.get(Drop.token == token).expires_at == expected
    assert said(response) == [f"It now expires at {expected:%Y-%m-%d %H:%M} UTC."]
    # The table's row follows, out of band.
    assert f'<tr id="drop-{drop_id(token)}" hx-swap-oob="true">' in response.text
    (event,) = audit_events("expiry_set")
    assert event.target.startswith(f"drop {drop_id(token)} {token[:8]}")
    assert event.details["expires_at_after"] == f"{expected:%Y-%m-%d %H:%M:%S}Z"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_drop_revived_by_extending_its_expiry_is_served_at_once(ops, session, clock, method):
    token = upload(ops, b"abc", expires_in=60).json["token"]
    path = f"/api/v1.0/file/{token}"
    clock.advance(61)  # past its expiry, before the sweep ends it
    for _ in range(2):
        assert ops.simulate_request(method, path).status_code == 410
    response = post(ops, session, f"/ops/drops/{drop_id(token)}/expiry", "expires_in=3600")
    assert response.status_code == 200, response.text
    revived = ops.simulate_request(method, path)
    assert revived.status_code == 200 and "X-Drop-Cache" not in revived.headers


def test_the_maximum_counts_from_now_so_an_old_drop_can_be_kept_longer(ops, ops_config, clock):
    old = plant_drop(ops_config, age=datetime.timedelta(days=6))
    session = session_of(ops)
    response = post(ops, session, f"/ops/drops/{old.id}/expiry", f"expires_in={MAX_EXPIRES_IN}")
    assert response.status_code == 200
    assert Drop.get_by_id(old.id).expires_at == clock() + datetime.timedelta(days=7)


@pytest.mark.parametrize("value", [str(MAX_EXPIRES_IN + 1), "0", "-5", "soon", ""])
def test_an_expiry_beyond_the_maximum_or_not_a_number_is_400(ops, session, value):
    token = upload(ops).json["token"]
    before = Drop.get(Drop.token == token).expires_at
    response = post(ops, session, f"/ops/drops/{drop_id(token)}/expiry", f"expires_in={value}")
    assert response.status_code == 400
    assert said(response) and "expires_in must be" in said(response)[0]
    assert "seconds" in said(response)[0]  # the unit is named
    assert Drop.get(Drop.token == token).expires_at == before
    assert audit_events("expiry_set") == []


def test_a_drop_that_is_no_longer_live_cannot_be_extended(ops, ops_config, session):
    gone = plant_drop(ops_config, status="expired")
    response = post(ops, session, f"/ops/drops/{gone.id}/expiry", "expires_in=3600")
    assert response.status_code == 409
    assert said(response) == ["this drop is expired: only a live drop can be changed"]


def test_raising_the_download_limit_allows_more_downloads(ops, session):
    token = upload(ops, b"abc").json["token"]  # one download
    assert ops.simulate_get(f"/api/v1.0/file/{token}").status_code == 200
    # Used up: gone. A drop with downloads left can be given more.
    other = upload(ops, b"def", max_downloads=2).json["token"]
    assert ops.simulate_get(f"/api/v1.0/file/{other}").status_code == 200
    response = post(ops, session, f"/ops/drops/{drop_id(other)}/limit", "max_downloads=5")
    assert response.status_code == 200
    assert said(response) == ["It now allows 5 downloads in all."]
    for _ in range(4):
        assert ops.simulate_get(f"/api/v1.0/file/{other}").status_code == 200
    assert ops.simulate_get(f"/api/v1.0/file/{other}").status_code == 410
    (event,) = audit_events("limit_set")
    assert event.details == {
        "drop_id": drop_id(other),
        "max_downloads_before": 2,
        "max_downloads_after": 5,
        "downloads_used": 1,
    }


@pytest.mark.parametrize("limit", ["1", "2"])
def test_a_limit_not_above_the_downloads_used_is_400(ops, ops_config, session, limit):
    drop = plant_drop(ops_config, downloads=2, max_downloads=4)
    response = post(ops, session, f"/ops/drops/{drop.id}/limit", f"max_downloads={limit}")
    assert response.status_code == 400
    assert said(response) == [
        "it has been downloaded 2 times already: the limit must be more than that "
        "(revoke it to end it now)"
    ]
    assert Drop.get_by_id(drop.id).max_downloads == 4
    assert audit_events("limit_set") == []


def test_a_limit_above_the_configured_maximum_is_400(ops, session):
    token = upload(ops).json["token"]
    response = post(ops, session, f"/ops/drops/{drop_id(token)}/limit", "max_downloads=101")
    assert response.status_code == 400
    assert said(response) == ["max_downloads must be from 1 to 100 downloads, got 101"]


def test_editing_an_unknown_drop_is_404(ops, session):
    assert post(ops, session, "/ops/drops/999999/limit", "max_downloads=3").status_code == 404
    assert post(ops, session, "/ops/drops/999999/download").status_code == 404


def test_an_uncounted_download_serves_the_bytes_and_counts_nothing(ops, session, counts):
    token = upload(ops, b"%PDF suspicious bytes", filename="invoice.pdf", password="s3cret").json[
        "token"
    ]
    counts.flush()
    response = post(ops, session, f"/ops/drops/{drop_id(token)}/download")
    assert response.status_code == 200
    assert response.content == b"%PDF suspicious bytes"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert 'filename="invoice.pdf"' in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["Cache-Control"] == "no-store"
    drop = Drop.get(Drop.token == token)
    assert (drop.downloads, drop.status) == (0, "live")
    assert DownloadEvent.select().count() == 0
    assert not any(metric == "downloads" for _, metric in counts.pending())
    (event,) = audit_events("download_uncounted")
    assert event.details == {"drop_id": drop.id, "size": 21, "status": "live"}
    assert event.target == f"drop {drop.id} {token[:8]}"


def test_a_drop_whose_file_is_gone_has_nothing_to_download(ops, ops_config, session):
    gone = plant_drop(ops_config, content=None, status="downloaded")
    assert not blob_exists(ops_config, gone.token)
    response = post(ops, session, f"/ops/drops/{gone.id}/download")
    assert response.status_code == 404
    assert audit_events("download_uncounted") == []


@pytest.mark.parametrize(
    ("action", "body"),
    [("expiry", "expires_in=3600"), ("limit", "max_downloads=9"), ("download", "")],
)
def test_every_edit_needs_the_csrf_token(ops, session, action, body):
    token = upload(ops, b"abc").json["token"]
    before = Drop.get(Drop.token == token)
    response = post(ops, session, f"/ops/drops/{drop_id(token)}/{action}", body, csrf=False)
    assert response.status_code == 403
    assert response.content != b"abc"
    after = Drop.get(Drop.token == token)
    assert (after.expires_at, after.max_downloads) == (before.expires_at, before.max_downloads)
    assert AuditEvent.select().where(AuditEvent.action != "login").count() == 0


@pytest.mark.parametrize("action", ["expiry", "limit", "download"])
def test_every_edit_needs_a_session(ops, action):
    token = upload(ops, b"abc").json["token"]
    response = ops.simulate_post(f"/ops/drops/{drop_id(token)}/{action}")
    assert response.status_code == 403
    assert ops.simulate_get(f"/ops/drops/{drop_id(token)}").status_code == 303


def test_the_csrf_token_works_as_a_form_field_for_the_download_button(ops, session):
    token = upload(ops, b"abc").json["token"]
    cookies, csrf = session
    response = ops.simulate_post(
        f"/ops/drops/{drop_id(token)}/download",
        cookies=cookies,
        body=f"csrf={csrf}",
        headers={"Content-Type": FORM},
    )
    assert response.status_code == 200
    assert response.content == b"abc"
