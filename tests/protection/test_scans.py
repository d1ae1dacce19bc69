"""Malware scanning in the web app: what an upload's scan state makes each answer, on both
databases, with a real clamd and the scans run by hand where the test decides when."""

from __future__ import annotations

import dataclasses
import datetime

import falcon.testing
import pytest

from drop import tasks
from drop.app import create_app
from drop.db.models import Drop, db
from drop.drops import lifecycle as drops
from drop.protection import scans
from drop.protection.audit import AuditEvent
from drop.protection.scanning import Clamd
from drop.runtime import metrics
from drop.storage.local import LocalStorage
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, session_of
from tests.support.clamd_server import EICAR, MALWARE, MALWARE_SIGNATURE, UNOFFICIAL
from tests.support.common import multipart, upload

CLEAN = b"a perfectly ordinary file\n"


@pytest.fixture
def queued() -> list[str]:
    """Tokens whose scans the app queued; the test runs them when it wants."""
    return []


def scanning_app(config, clock, queued, **settings):
    config = dataclasses.replace(config, **settings)
    return config, falcon.testing.TestClient(
        create_app(config, clock=clock, schedule_scan=queued.append)
    )


@pytest.fixture
def hold(config, clock, clamd, queued, immediate_huey):
    config, client = scanning_app(config, clock, queued, clamd_socket=clamd.socket_path)
    yield config, client
    if not db.is_closed():
        db.close()


@pytest.fixture
def after(config, clock, clamd, queued, immediate_huey):
    config, client = scanning_app(
        config, clock, queued, clamd_socket=clamd.socket_path, scan_mode="after"
    )
    yield config, client
    if not db.is_closed():
        db.close()


def run_scan(config, token: str, clock) -> scans.ScanOutcome:
    scanner = scans.Scanner.from_settings(scans.ScanSettings.from_config(config))
    with db.connection_context():
        return scanner.scan(token, clock())


def row(token: str) -> Drop:
    with db.connection_context():
        return Drop.get(Drop.token == token)


def download(client, token: str):
    return client.simulate_get(f"/api/v1.0/file/{token}")


def scans_counted(result: str) -> float:
    return metrics.REGISTRY.get_sample_value("drop_scans_total", {"result": result}) or 0


def test_a_held_upload_answers_423_until_it_is_scanned_clean(hold, queued, clock):
    config, client = hold
    token = upload(client, CLEAN).json["token"]
    assert queued == [token]
    assert row(token).scan_status == "pending"
    pending = download(client, token)
    assert pending.status_code == 423
    assert pending.json["error"] == "Being Checked"
    assert pending.headers["Retry-After"]
    assert client.simulate_head(f"/api/v1.0/file/{token}").status_code == 423
    page = client.simulate_get(f"/d/{token}")
    assert page.status_code == 423
    assert "being checked for malware" in page.text
    assert 'http-equiv="refresh"' in page.text
    assert client.simulate_post(f"/d/{token}").status_code == 423
    assert row(token).downloads == 0
    clean_before = scans_counted("clean")
    assert run_scan(config, token, clock).result == "clean"
    assert scans_counted("clean") == clean_before + 1
    scanned = row(token)
    assert (scanned.scan_status, scanned.scanned_at) == ("clean", clock())
    got = download(client, token)
    assert got.status_code == 200 and got.content == CLEAN


def test_a_held_infected_upload_never_serves_and_answers_451(hold, queued, clock):
    config, client = hold
    token = upload(client, MALWARE, max_downloads=5).json["token"]
    assert download(client, token).status_code == 423
    infected_before = scans_counted("infected")
    outcome = run_scan(config, token, clock)
    assert (outcome.result, outcome.signature) == ("infected", MALWARE_SIGNATURE + UNOFFICIAL)
    assert scans_counted("infected") == infected_before + 1
    found = row(token)
    assert (found.status, found.scan_status) == ("infected", "infected")
    assert found.scan_signature == MALWARE_SIGNATURE + UNOFFICIAL
    assert found.downloads == 0
    answer = download(client, token)
    assert answer.status_code == 451
    assert answer.json["error"] == "Unavailable For Legal Reasons"
    assert "malware" in answer.json["detail"]
    assert MALWARE not in answer.content
    page = client.simulate_get(f"/d/{token}", headers={"Accept": "text/html"})
    assert page.status_code == 451 and "found to contain malware" in page.text
    assert client.simulate_post(f"/d/{token}").status_code == 451
    # Out of the served tree, kept for the operator.
    storage = LocalStorage(config.data_dir)
    assert not storage.exists(token)
    assert (config.data_dir / "quarantine" / token).read_bytes() == MALWARE
    with db.connection_context():
        event = AuditEvent.get(AuditEvent.action == "malware_found")
    assert event.actor == "scanner" and event.target == f"drop {found.id} {token[:8]}"
    assert event.details["signature"] == MALWARE_SIGNATURE + UNOFFICIAL
    assert token not in (event.detail or "")


def test_every_upload_path_waits_for_its_scan(hold, queued, clock):
    config, client = hold
    body, headers = multipart(EICAR, filename="eicar.com")
    page = client.simulate_post("/", body=body, headers=headers)
    raw = client.simulate_put("/eicar.txt", body=EICAR)
    assert page.status_code == raw.status_code == 201
    assert len(queued) == 2
    for token in queued:
        assert download(client, token).status_code == 423
        assert run_scan(config, token, clock).result == "infected"
        assert download(client, token).status_code == 451


def test_after_mode_serves_at_once_and_revokes_on_a_hit(after, queued, clock):
    config, client = after
    token = upload(client, MALWARE, max_downloads=3).json["token"]
    assert row(token).scan_status == "pending"
    first = download(client, token)
    assert first.status_code == 200 and first.content == MALWARE
    assert run_scan(config, token, clock).result == "infected"
    assert download(client, token).status_code == 451
    assert client.simulate_get(f"/d/{token}").status_code == 451


def test_the_delete_quarantine_setting_deletes_the_blob(
    config, clock, clamd, queued, immediate_huey
):
    config, client = scanning_app(
        config, clock, queued, clamd_socket=clamd.socket_path, scan_quarantine="delete"
    )
    token = upload(client, MALWARE).json["token"]
    assert run_scan(config, token, clock).result == "infected"
    assert not LocalStorage(config.data_dir).exists(token)
    assert not (config.data_dir / "quarantine" / token).exists()


def test_a_file_too_large_to_scan_is_served_unscanned_by_default(hold, queued, clock):
    config, client = hold
    small = dataclasses.replace(config, scan_max_bytes=10)
    _, client = scanning_app(small, clock, queued)
    too_large_before = scans_counted("too_large")
    token = upload(client, CLEAN).json["token"]
    assert queued == []
    assert row(token).scan_status == "too_large"
    assert scans_counted("too_large") == too_large_before + 1
    assert download(client, token).status_code == 200


def test_a_file_too_large_to_scan_can_be_refused(hold, queued, clock):
    config, client = hold
    strict = dataclasses.replace(config, scan_max_bytes=10, scan_too_large="refuse")
    _, client = scanning_app(strict, clock, queued)
    refused = upload(client, CLEAN)
    assert refused.status_code == 413
    assert "cannot be checked for malware" in refused.json["detail"]
    with db.connection_context():
        assert Drop.select().count() == 0
    assert not any(LocalStorage(config.data_dir).blob_tokens())
    assert upload(client, b"tiny").status_code == 201


def test_pending_scans_are_queued_again_after_the_requeue_delay(hold, queued, clock):
    config, client = hold
    token = upload(client, CLEAN).json["token"]
    with db.connection_context():
        assert scans.due_for_requeue(clock(), 600) == []
        later = clock() + datetime.timedelta(seconds=601)
        assert scans.due_for_requeue(later, 600) == [token]
        # Marked as queued: the next sweep leaves it alone.
        assert scans.due_for_requeue(later, 600) == []
        drops.end_drop(token, "deleted", later)
        assert scans.due_for_requeue(later + datetime.timedelta(hours=1), 600) == []


def test_readyz_names_the_scanner_while_clamd_is_unreachable(config, clock, queued, tmp_path):
    config, client = scanning_app(config, clock, queued, clamd_socket=str(tmp_path / "no.sock"))
    answer = client.simulate_get("/readyz")
    # Degraded, not down: uploads are kept and scanned later, scanned files still serve.
    assert answer.status_code == 200
    assert answer.json["status"] == "degraded"
    assert answer.json["checks"]["scanner"] == "unreachable"
    assert answer.json["degraded"] == ["scanner"]


def test_readyz_is_ok_with_clamd_answering(hold):
    _, client = hold
    answer = client.simulate_get("/readyz")
    assert answer.status_code == 200 and answer.json["checks"]["scanner"] == "ok"


def test_without_clamd_nothing_is_scanned_or_held(client, config):
    token = upload(client, MALWARE).json["token"]
    assert row(token).scan_status is None
    assert download(client, token).status_code == 200
    assert Clamd.from_config(config) is None


def test_the_sweep_queues_a_scan_left_pending_and_the_worker_task_finishes_it(hold, queued, clock):
    config, client = hold
    token = upload(client, MALWARE).json["token"]  # queued nowhere: as if the queue failed
    later = clock() + datetime.timedelta(seconds=config.scan_requeue_seconds + 1)
    with db.connection_context():
        assert tasks.requeue_pending_scans(config, clock()) == 0
        # The task runs inline (immediate Huey), as the worker would run it.
        assert tasks.requeue_pending_scans(config, later) == 1
    assert row(token).status == "infected"
    assert download(client, token).status_code == 451


def test_the_dashboard_shows_each_drops_scan(config, clock, clamd, queued, immediate_huey):
    config, client = scanning_app(
        config, clock, queued, clamd_socket=clamd.socket_path, admin_token=ADMIN_TOKEN
    )
    pending = upload(client, CLEAN, filename="waiting.txt").json["token"]
    bad = upload(client, MALWARE, filename="bad.exe").json["token"]
    run_scan(config, bad, clock)
    cookies, _ = session_of(client)
    page = client.simulate_get("/ops/drops", cookies=cookies).text
    assert "scan pending" in page
    assert f"malware: {MALWARE_SIGNATURE}{UNOFFICIAL}" in page
    assert 'status-infected">infected<' in page
    assert pending[:8] in page


def test_the_dashboard_rescans_a_drop_and_records_it(config, clock, clamd, queued, immediate_huey):
    config, client = scanning_app(
        config, clock, queued, clamd_socket=clamd.socket_path, admin_token=ADMIN_TOKEN
    )
    bad = upload(client, MALWARE, filename="bad.exe").json["token"]
    cookies, csrf = session_of(client)
    assert "Rescan" in client.simulate_get("/ops/drops", cookies=cookies).text
    drop_id = row(bad).id
    answer = client.simulate_post(
        f"/ops/drops/{drop_id}/scan", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status_code == 200, answer.text
    assert "malware: " in answer.text
    assert download(client, bad).status_code == 451
    with db.connection_context():
        actions = {event.action: event for event in AuditEvent.select()}
    assert actions["scan"].details["result"] == "infected"
    assert actions["malware_found"].actor == actions["scan"].actor != "scanner"
    refused = client.simulate_post(f"/ops/drops/{drop_id}/scan", cookies=cookies)
    assert refused.status_code == 403  # no CSRF token


def test_a_held_drop_that_expired_is_gone_not_being_checked(hold, queued, clock):
    _, client = hold
    token = upload(client, CLEAN, expires_in=60).json["token"]
    clock.advance(61)
    assert download(client, token).status_code == 410
    assert client.simulate_get(f"/d/{token}").status_code == 410
