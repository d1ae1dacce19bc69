"""Blocks: an address or network may not upload (403), blocked content may not be uploaded (403)
and existing drops of it answer 451, on every upload path and every way of downloading."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import falcon.testing
import pytest

from drop.app import create_app
from drop.clock import utcnow
from drop.db.models import LIVE, REVOKED, Drop, db
from drop.drops import lifecycle as drops
from drop.ops import blocking
from drop.protection import audit, blocks
from drop.protection.audit import AuditEvent
from drop.storage.local import LocalStorage
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, session_of
from tests.support.common import UPLOAD, multipart
from tests.support.html_checks import foreign_urls, unlabelled_controls
from tests.support.ops import blob_exists
from tests.support.page import press_download

BLOCKED = "203.0.113.7"
ELSEWHERE = "198.51.100.1"
CONTENT = b"the bytes nobody may share\n"
CONTENT_SHA256 = hashlib.sha256(CONTENT).hexdigest()


def behind_proxy(address: str) -> dict[str, str]:
    return {"X-Real-IP": address}


def api_upload(client, content=CONTENT, address=ELSEWHERE, **fields):
    body, headers = multipart(content, **fields)
    return client.simulate_put(UPLOAD, body=body, headers={**headers, **behind_proxy(address)})


def page_upload(client, content=CONTENT, address=ELSEWHERE):
    body, headers = multipart(content)
    return client.simulate_post("/", body=body, headers={**headers, **behind_proxy(address)})


def raw_upload(client, content=CONTENT, address=ELSEWHERE):
    return client.simulate_put("/notes.txt", body=content, headers=behind_proxy(address))


UPLOAD_PATHS = {"api": api_upload, "page form": page_upload, "curl -T": raw_upload}


def add(kind: str, value: str, reason: str = "abuse") -> blocks.Block:
    block, created = blocks.add_block(blocks.target(kind, value), reason, actor="cli", now=utcnow())
    assert created
    return block


def blocked_uploads_counted(client, kind: str) -> float:
    text = client.simulate_get("/metrics").text
    found = re.search(rf'^drop_blocked_uploads_total{{kind="{kind}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def temp_files(config) -> list:
    return list((config.data_dir / "tmp").glob("*"))


# Addresses and networks


@pytest.mark.parametrize(
    "network, inside, outside",
    [
        ("203.0.113.7", ["203.0.113.7", "::ffff:203.0.113.7"], ["203.0.113.8", "::1"]),
        ("203.0.113.0/24", ["203.0.113.0", "203.0.113.255"], ["203.0.112.255", "203.0.114.0"]),
        ("2001:db8::/32", ["2001:db8::1", "2001:db8:ffff::9"], ["2001:db9::1", "203.0.113.1"]),
        ("2001:db8::5", ["2001:db8::5"], ["2001:db8::4", "2001:db8::6"]),
        ("::ffff:192.0.2.0/120", ["192.0.2.44"], ["192.0.3.1"]),
    ],
)
def test_an_address_block_covers_exactly_its_network(app, network, inside, outside):
    add(blocks.ADDRESS, network)
    for address in inside:
        assert blocks.address_block(address) is not None, address
    for address in outside:
        assert blocks.address_block(address) is None, address


def test_a_network_is_stored_canonically_and_junk_is_refused(app):
    assert blocks.address_target("192.0.2.77/24").value == "192.0.2.0/24"
    assert blocks.address_target(" 2001:DB8::1 ").value == "2001:db8::1/128"
    for junk in ("", "example.org", "192.0.2.0/33", "1.2.3"):
        with pytest.raises(blocks.BadBlock):
            blocks.address_target(junk)
    with pytest.raises(blocks.BadBlock):
        blocks.content_target("abc")
    assert blocks.content_target(CONTENT_SHA256.upper()).value == CONTENT_SHA256


def test_a_client_address_that_is_no_address_is_never_blocked(app):
    add(blocks.ADDRESS, "0.0.0.0/0")
    assert blocks.address_block("unknown") is None


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_an_address_block_refuses_every_upload_path_with_403_and_its_reason(client, config, path):
    add(blocks.ADDRESS, "203.0.113.0/24", reason="spam from this network")
    before = blocked_uploads_counted(client, "address")
    response = UPLOAD_PATHS[path](client, address=BLOCKED)
    assert response.status_code == 403
    assert "spam from this network" in response.text
    assert Drop.select().count() == 0
    assert temp_files(config) == []
    assert blocked_uploads_counted(client, "address") == before + 1
    # Others upload as before.
    assert UPLOAD_PATHS[path](client, address=ELSEWHERE).status_code == 201


def test_each_refusal_speaks_its_clients_language(client):
    add(blocks.ADDRESS, BLOCKED, reason="spam")
    api = api_upload(client, address=BLOCKED)
    assert api.json == {
        "error": "Forbidden",
        "detail": "uploads from this address are blocked: spam",
    }
    page = page_upload(client, address=BLOCKED)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Not allowed" in page.text and "blocked: spam" in page.text
    raw = raw_upload(client, address=BLOCKED)
    assert raw.text == "403 Forbidden: uploads from this address are blocked: spam\n"


def test_an_ipv6_network_block_refuses_its_uploads(client):
    add(blocks.ADDRESS, "2001:db8:42::/48")
    assert api_upload(client, address="2001:db8:42::beef").status_code == 403
    assert api_upload(client, address="2001:db8:43::beef").status_code == 201


def test_a_blocked_upload_uses_none_of_the_hourly_quota(config, clock, immediate_huey):
    client = falcon.testing.TestClient(
        create_app(dataclasses.replace(config, uploads_per_hour=1), clock=clock)
    )
    block = add(blocks.ADDRESS, BLOCKED)
    for _ in range(3):
        assert api_upload(client, address=BLOCKED).status_code == 403
    blocks.remove_block(block.id)
    assert api_upload(client, address=BLOCKED).status_code == 201
    db.close()


# Content


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_a_content_block_refuses_those_bytes_on_every_path_and_keeps_nothing(client, config, path):
    add(blocks.CONTENT, CONTENT_SHA256, reason="court order 12")
    before = blocked_uploads_counted(client, "content")
    response = UPLOAD_PATHS[path](client)
    assert response.status_code == 403
    assert "court order 12" in response.text
    assert Drop.select().count() == 0
    assert temp_files(config) == []
    assert list((config.data_dir / "blobs").rglob("*")) == [] or all(
        p.is_dir() for p in (config.data_dir / "blobs").rglob("*")
    )
    assert blocked_uploads_counted(client, "content") == before + 1
    assert UPLOAD_PATHS[path](client, content=b"other bytes").status_code == 201


def test_an_existing_drop_of_blocked_content_answers_451_and_never_its_bytes(client):
    token = api_upload(client, max_downloads=5).json["token"]
    add(blocks.CONTENT, CONTENT_SHA256)
    api = client.simulate_get(f"{UPLOAD}/{token}")
    assert api.status_code == 451
    assert api.json["error"] == "Unavailable For Legal Reasons"
    assert CONTENT not in api.content
    assert client.simulate_head(f"{UPLOAD}/{token}").status_code == 451
    assert client.simulate_get(f"{UPLOAD}/{token}/notes.txt").status_code == 451
    page = client.simulate_get(f"/d/{token}")
    assert page.status_code == 451
    assert "This file is not available" in page.text
    assert "withheld this file" in page.text
    pressed = press_download(client, token)
    assert pressed.status_code == 451 and CONTENT not in pressed.content
    assert Drop.get(Drop.token == token).downloads == 0


def test_a_protected_drop_of_blocked_content_answers_451_before_its_password(client):
    token = api_upload(client, password="pw").json["token"]
    add(blocks.CONTENT, CONTENT_SHA256)
    response = client.simulate_get(f"{UPLOAD}/{token}", headers={"X-Drop-Password": "pw"})
    assert response.status_code == 451
    assert press_download(client, token, "pw").status_code == 451


def test_the_download_claim_itself_refuses_blocked_content(client):
    token = api_upload(client).json["token"]
    add(blocks.CONTENT, CONTENT_SHA256)
    assert drops.claim_download(token, utcnow(), unprotected_only=True) is None
    assert drops.claim_download(token, utcnow()) is None


def test_451_answers_are_counted_in_metrics(client):
    token = api_upload(client).json["token"]
    add(blocks.CONTENT, CONTENT_SHA256)
    text = client.simulate_get("/metrics").text
    before = float(re.search(r"^drop_unavailable_for_legal_reasons_total (\S+)$", text, re.M)[1])
    client.simulate_get(f"{UPLOAD}/{token}")
    text = client.simulate_get("/metrics").text
    after = float(re.search(r"^drop_unavailable_for_legal_reasons_total (\S+)$", text, re.M)[1])
    assert after == before + 1


def test_removing_blocks_lets_uploads_in_and_serves_the_drop_again(client):
    token = api_upload(client).json["token"]
    address_block = add(blocks.ADDRESS, BLOCKED)
    content_block = add(blocks.CONTENT, CONTENT_SHA256)
    assert api_upload(client, address=BLOCKED, content=b"x").status_code == 403
    assert client.simulate_get(f"{UPLOAD}/{token}").status_code == 451
    blocks.remove_block(address_block.id)
    blocks.remove_block(content_block.id)
    assert api_upload(client, address=BLOCKED, content=b"x").status_code == 201
    assert client.simulate_get(f"{UPLOAD}/{token}").content == CONTENT
    assert api_upload(client).status_code == 201


# Blocking as an operator: revoking an address's drops, the audit trail


def test_blocking_an_address_can_revoke_its_live_drops_only(client, config):
    mine = [
        api_upload(client, address=ip, content=ip.encode()).json["token"]
        for ip in ("203.0.113.7", "203.0.113.99")
    ]
    theirs = api_upload(client, address=ELSEWHERE, content=b"theirs").json["token"]
    outcome = blocking.block(
        blocks.address_target("203.0.113.0/24"),
        "spam",
        actor="cli",
        address=None,
        now=utcnow(),
        storage=LocalStorage(config.data_dir),
        revoke_drops=True,
    )
    assert sorted(d.token for d in outcome.revoked) == sorted(mine)
    for token in mine:
        assert Drop.get(Drop.token == token).status == REVOKED
        assert not blob_exists(config, token)
        assert client.simulate_get(f"{UPLOAD}/{token}").status_code == 410
    assert Drop.get(Drop.token == theirs).status == LIVE
    [event] = AuditEvent.select()
    assert (event.action, event.actor, event.target) == (
        audit.BLOCK,
        "cli",
        "address 203.0.113.0/24",
    )
    assert event.details["revoked_drops"] == 2 and event.details["reason"] == "spam"


# The dashboard


@pytest.fixture
def ops(config, clock, immediate_huey):
    app = create_app(dataclasses.replace(config, admin_token=ADMIN_TOKEN), clock=clock)
    yield falcon.testing.TestClient(app)
    if not db.is_closed():
        db.close()


def act(ops, method, path, cookies, csrf, **kwargs):
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true", **kwargs.pop("headers", {})}
    return ops.simulate_request(method, path, cookies=cookies, headers=headers, **kwargs)


def form(**fields) -> dict:
    from urllib.parse import urlencode

    return {
        "body": urlencode(fields),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }


def test_the_dashboard_confirms_then_blocks_an_uploader_and_records_it(ops, config):
    cookies, csrf = session_of(ops)
    token = api_upload(ops, address=BLOCKED).json["token"]
    drop_id = Drop.get(Drop.token == token).id
    page = ops.simulate_get("/ops", cookies=cookies)
    assert f"/ops/blocks/new?kind=address&amp;drop_id={drop_id}" in page.text
    confirm = act(
        ops,
        "GET",
        "/ops/blocks/new",
        cookies,
        csrf,
        params={"kind": "address", "drop_id": str(drop_id)},
    )
    assert confirm.status_code == 200
    assert f'value="{BLOCKED}"' in confirm.text and "1 live drop uploaded" in confirm.text
    assert Drop.get_by_id(drop_id).status == LIVE and blocks.list_blocks() == []  # not yet

    done = act(
        ops,
        "POST",
        "/ops/blocks",
        cookies,
        csrf,
        **form(kind="address", value=BLOCKED, reason="spam", drop_id=drop_id, revoke_drops="on"),
    )
    assert done.status_code == 201, done.text
    assert "Blocked address 203.0.113.7/32" in done.text and "revoked 1 live drop" in done.text
    assert done.headers["HX-Trigger"] == "blocks-changed"
    assert Drop.get_by_id(drop_id).status == REVOKED
    assert api_upload(ops, address=BLOCKED, content=b"again").status_code == 403
    [event] = AuditEvent.select().where(AuditEvent.action == audit.BLOCK)
    assert event.actor != "cli" and event.details["drop_id"] == drop_id

    listed = ops.simulate_get("/ops/blocks", cookies=cookies)
    assert "203.0.113.7/32" in listed.text and "spam" in listed.text
    block_id = blocks.list_blocks()[0].id
    removed = act(ops, "POST", f"/ops/blocks/{block_id}/remove", cookies, csrf)
    assert removed.status_code == 200 and "Nothing is blocked" in removed.text
    assert [e.action for e in AuditEvent.select().order_by(AuditEvent.id)][-1] == audit.UNBLOCK
    assert api_upload(ops, address=BLOCKED, content=b"again").status_code == 201


def test_the_dashboard_blocks_content_and_the_drop_answers_451(ops):
    cookies, csrf = session_of(ops)
    token = api_upload(ops).json["token"]
    drop_id = Drop.get(Drop.token == token).id
    confirm = act(
        ops,
        "GET",
        "/ops/blocks/new",
        cookies,
        csrf,
        params={"kind": "content", "drop_id": str(drop_id)},
    )
    assert CONTENT_SHA256 in confirm.text and "451" in confirm.text
    done = act(
        ops,
        "POST",
        "/ops/blocks",
        cookies,
        csrf,
        **form(kind="content", value=CONTENT_SHA256, reason="csam hash list"),
    )
    assert done.status_code == 201
    assert ops.simulate_get(f"{UPLOAD}/{token}").status_code == 451
    assert api_upload(ops, content=CONTENT).status_code == 403


def test_a_dashboard_block_needs_the_csrf_token_and_a_reason(ops):
    cookies, csrf = session_of(ops)
    refused = ops.simulate_post(
        "/ops/blocks", cookies=cookies, **form(kind="address", value=BLOCKED, reason="x")
    )
    assert refused.status_code == 403
    no_reason = act(
        ops,
        "POST",
        "/ops/blocks",
        cookies,
        csrf,
        **form(kind="address", value=BLOCKED, reason="  "),
    )
    assert no_reason.status_code == 400 and "give a reason" in no_reason.text
    junk = act(
        ops,
        "POST",
        "/ops/blocks",
        cookies,
        csrf,
        **form(kind="address", value="not-an-ip", reason="x"),
    )
    assert junk.status_code == 400
    # PostgreSQL refuses a NUL in text: a 400 saying what to fix, never a 500.
    nul = act(
        ops,
        "POST",
        "/ops/blocks",
        cookies,
        csrf,
        **form(kind="address", value=BLOCKED, reason="spam\x00"),
    )
    assert nul.status_code == 400 and "no control characters" in nul.text
    assert blocks.list_blocks() == []


def test_the_blocks_pages_pass_the_html_checks(ops):
    cookies, _ = session_of(ops)
    token = api_upload(ops, address=BLOCKED).json["token"]
    drop_id = str(Drop.get(Drop.token == token).id)
    add(blocks.ADDRESS, "192.0.2.0/24")
    rendered = {
        "blocks page": ops.simulate_get("/ops/blocks", cookies=cookies),
        "dashboard": ops.simulate_get("/ops", cookies=cookies),
        "confirm address": ops.simulate_get(
            "/ops/blocks/new", params={"kind": "address", "drop_id": drop_id}, cookies=cookies
        ),
        "confirm content": ops.simulate_get(
            "/ops/blocks/new", params={"kind": "content", "drop_id": drop_id}, cookies=cookies
        ),
    }
    for name, response in rendered.items():
        assert response.status_code == 200, name
        assert unlabelled_controls(response.text) == [], name
        assert foreign_urls(response.text, "http://falconframework.org") == [], name
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], name
    assert "192.0.2.0/24" in rendered["blocks page"].text


def test_the_confirmation_step_says_when_the_address_is_no_longer_known(ops):
    cookies, _ = session_of(ops)
    token = api_upload(ops, address=BLOCKED).json["token"]
    Drop.update(uploader_address=None).where(Drop.token == token).execute()
    drop_id = str(Drop.get(Drop.token == token).id)
    confirm = ops.simulate_get(
        "/ops/blocks/new", params={"kind": "address", "drop_id": drop_id}, cookies=cookies
    )
    assert "no longer" in confirm.text and "<form" not in confirm.text
    for params in ({"kind": "nope", "drop_id": drop_id}, {"kind": "address", "drop_id": "x"}):
        assert (
            ops.simulate_get("/ops/blocks/new", params=params, cookies=cookies).status_code == 400
        )
    missing = {"kind": "content", "drop_id": "999"}
    assert ops.simulate_get("/ops/blocks/new", params=missing, cookies=cookies).status_code == 404
