"""Who uploaded a drop: address and User-Agent, kept for the operator and then forgotten.

Every upload path stores the client's address (the one a trusted proxy names in
X-Real-IP) and its User-Agent; after DROP_UPLOADER_RETENTION the sweep erases both, the
drop itself untouched; with a retention of 0 nothing is stored. Only /ops shows them.
"""

from __future__ import annotations

import dataclasses
import datetime

import falcon.testing
import pytest
import requests

from drop.app import create_app
from drop.db.models import Drop, db, init_database
from drop.drops import lifecycle as drops
from drop.storage.local import LocalStorage
from tests.ops.test_ops_dashboard import ADMIN_TOKEN, session_of
from tests.support.common import UPLOAD, LiveServer, multipart, wait_until
from tests.support.page import press_download, share_token

ADDRESS = "203.0.113.7"
AGENT = "curl/8.5.0"
HOUR = 3600
BEHIND_NGINX = {"X-Real-IP": ADDRESS, "User-Agent": AGENT}


@pytest.fixture
def build(config, clock, immediate_huey):
    """A client of the app with some settings changed."""

    def client_with(**settings) -> falcon.testing.TestClient:
        return falcon.testing.TestClient(
            create_app(dataclasses.replace(config, **settings), clock=clock)
        )

    yield client_with
    if not db.is_closed():
        db.close()


def api_upload(client, headers=BEHIND_NGINX, **fields):
    body, content_type = multipart(**fields)
    return client.simulate_put(UPLOAD, body=body, headers={**content_type, **headers})


def page_upload(client, headers=BEHIND_NGINX):
    body, content_type = multipart()
    return client.simulate_post("/", body=body, headers={**content_type, **headers})


def raw_upload(client, headers=BEHIND_NGINX):
    return client.simulate_put("/notes.txt", body=b"hello drop\n", headers=headers)


def uploader_of(token: str) -> tuple[str | None, str | None]:
    drop = Drop.get(Drop.token == token)
    return drop.uploader_address, drop.uploader_agent


def test_api_upload_stores_the_address_behind_the_proxy_and_the_agent(client):
    token = api_upload(client).json["token"]
    assert uploader_of(token) == (ADDRESS, AGENT)


def test_page_upload_stores_the_address_and_the_agent(client):
    token = share_token(page_upload(client))
    assert uploader_of(token) == (ADDRESS, AGENT)


def test_curl_t_upload_stores_the_address_and_the_agent(client):
    response = raw_upload(client, {**BEHIND_NGINX, "Accept": "application/json"})
    assert response.status_code == 201, response.text
    assert uploader_of(response.json["token"]) == (ADDRESS, AGENT)


def test_x_real_ip_from_an_untrusted_peer_is_not_taken_for_the_uploader(client):
    body, content_type = multipart()
    response = client.simulate_put(
        UPLOAD, body=body, headers={**content_type, **BEHIND_NGINX}, remote_addr="192.0.2.9"
    )
    assert uploader_of(response.json["token"]) == ("192.0.2.9", AGENT)


def test_an_upload_without_a_user_agent_keeps_only_the_address(client):
    response = api_upload(client, {"X-Real-IP": ADDRESS, "User-Agent": ""})
    assert uploader_of(response.json["token"]) == (ADDRESS, None)


def test_the_agent_is_stripped_of_control_characters_and_bounded(client):
    agent = "evil\x1b[31m\x07agent\x7f " + "a" * 2000
    token = api_upload(client, {**BEHIND_NGINX, "User-Agent": agent}).json["token"]
    stored = uploader_of(token)[1]
    assert stored.startswith("evil[31magent aaa")
    assert len(stored) == 512
    assert not any(ord(c) < 32 or ord(c) == 127 for c in stored)


@pytest.mark.parametrize("upload_with", [api_upload, page_upload, raw_upload])
def test_with_retention_zero_no_upload_path_stores_anything(build, upload_with):
    response = upload_with(build(uploader_retention=0))
    assert response.status_code in (200, 201), response.text
    (drop,) = Drop.select()
    assert (drop.uploader_address, drop.uploader_agent) == (None, None)


def test_the_sweep_forgets_the_uploader_after_the_retention_and_the_drop_lives_on(
    client, config, clock
):
    old = api_upload(client, expires_in=2 * HOUR).json["token"]
    clock.advance(HOUR // 2)
    young = api_upload(client, expires_in=2 * HOUR).json["token"]
    clock.advance(HOUR // 2 + 1)
    report = drops.sweep(LocalStorage(config.data_dir), clock(), uploader_retention=HOUR)
    assert report.uploaders_erased == 1
    assert uploader_of(old) == (None, None)
    assert uploader_of(young) == (ADDRESS, AGENT)
    assert press_download(client, old).content == b"hello drop\n"


def test_a_sweep_without_a_retention_leaves_uploaders_alone(client, config, clock):
    token = api_upload(client).json["token"]
    clock.advance(HOUR)
    assert drops.sweep(LocalStorage(config.data_dir), clock()).uploaders_erased == 0
    assert uploader_of(token) == (ADDRESS, AGENT)


def test_erasure_runs_in_bounded_batches(client, clock):
    tokens = [api_upload(client).json["token"] for _ in range(5)]
    clock.advance(1)
    assert drops.erase_uploaders(clock(), 0, batch_size=2, max_batches=2) == 4
    assert sum(uploader_of(token) == (None, None) for token in tokens) == 4
    assert drops.erase_uploaders(clock(), 0, batch_size=2, max_batches=2) == 1
    assert all(uploader_of(token) == (None, None) for token in tokens)
    assert drops.erase_uploaders(clock(), 0, batch_size=2, max_batches=2) == 0


def test_public_answers_never_show_the_uploader(client):
    uploaded = api_upload(client, max_downloads=2)
    token = uploaded.json["token"]
    answers = [
        uploaded,
        page_upload(client),
        raw_upload(client),
        raw_upload(client, {**BEHIND_NGINX, "Accept": "application/json"}),
        client.simulate_get(f"/d/{token}"),
        press_download(client, token),
        client.simulate_get(f"/api/v1.0/file/{token}"),
    ]
    for answer in answers:
        assert answer.status_code < 300, answer.text
        seen = answer.text + repr(answer.headers)
        assert ADDRESS not in seen
        assert AGENT not in seen


def test_the_dashboard_shows_the_uploader_escaped(build):
    ops = build(admin_token=ADMIN_TOKEN)
    api_upload(ops, filename="one.txt")
    api_upload(ops, {**BEHIND_NGINX, "User-Agent": "<b>bold</b>"}, filename="two.txt")
    cookies, _ = session_of(ops)
    page = ops.simulate_get("/ops", cookies=cookies).text
    assert f"uploaded from {ADDRESS}, {AGENT}" in page
    assert f"uploaded from {ADDRESS}, &lt;b&gt;bold&lt;/b&gt;" in page


def test_the_dashboard_shows_no_uploader_once_it_is_forgotten(build, config, clock):
    ops = build(admin_token=ADMIN_TOKEN)
    api_upload(ops, filename="one.txt")
    drops.erase_uploaders(clock() + datetime.timedelta(seconds=1), 0)
    cookies, _ = session_of(ops)
    page = ops.simulate_get("/ops/drops", cookies=cookies).text
    assert "one.txt" in page
    assert "uploaded from" not in page


def test_behind_a_trusted_proxy_real_gunicorn_stores_the_real_client(config):
    """nginx, the trusted proxy on 127.0.0.1, names the client in X-Real-IP."""
    with LiveServer(config, workers=1) as live:
        body, content_type = multipart()
        response = requests.put(
            live.url + UPLOAD, data=body, headers={**content_type, **BEHIND_NGINX}, timeout=10
        )
        assert response.status_code == 201, response.text
    with init_database(config.effective_database_url):
        assert uploader_of(response.json()["token"]) == (ADDRESS, AGENT)


@pytest.mark.parametrize("backend", ["postgres"])
def test_the_real_worker_forgets_the_uploader_after_a_short_retention(config):
    """End to end: gunicorn stores the uploader, the worker's periodic sweep (once a
    minute) erases it, the drop still downloads, and no log line names the address."""
    with LiveServer(config, workers=1, with_worker=True, DROP_UPLOADER_RETENTION=1) as live:
        body, content_type = multipart()
        made = requests.put(
            live.url + UPLOAD, data=body, headers={**content_type, **BEHIND_NGINX}, timeout=10
        ).json()
        with init_database(config.effective_database_url):
            assert uploader_of(made["token"]) == (ADDRESS, AGENT)
            assert wait_until(lambda: uploader_of(made["token"]) == (None, None), timeout=90)
        download = requests.get(made["url"], timeout=10)
        assert download.content == b"hello drop\n"
    log = live.log.read_text()
    assert "1 uploaders forgotten" in log
    assert ADDRESS not in log and AGENT not in log
