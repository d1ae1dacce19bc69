"""The page's resumable uploads (tus-js-client) in real Chromium against real gunicorn.

A 40 MiB file goes up in 8 MiB requests through a relay the test controls: the connection
is cut mid-way and the upload goes on by itself when the network is back; a page reload
mid-way, and the same file chosen again, goes on from where the server got to. Either way
the upload is created once (one POST) and the drop holds the file's exact bytes.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from drop.config import Config
from drop.db import migrations
from drop.db.models import open_database
from tests.support.browser import Valve, launch_chromium, screenshot
from tests.support.common import LiveServer
from tests.test_browser import Visitor

MIB = 1024 * 1024
FILE_BYTES = 40 * MIB
UPLOADS = "/api/v1.0/uploads"


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    # A real file, so the browser gives it the same lastModified each time it is chosen:
    # tus-js-client recognises an earlier upload of it by name, type, size and that date.
    path = tmp_path_factory.mktemp("files") / "field recordings.wav"
    path.write_bytes(os.urandom(FILE_BYTES))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = Config(data_dir=tmp_path_factory.mktemp("resumable") / "data")
    config.data_dir.mkdir(parents=True)
    with open_database(config.effective_database_url) as database:
        migrations.migrate(database)
    with LiveServer(config, workers=2, DROP_MAX_UPLOAD_BYTES=str(64 * MIB)) as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def valve(server):
    relay = Valve(server.port)
    yield relay
    relay.close()


@pytest.fixture
def visitor(browser):
    visitor = Visitor(browser)
    yield visitor
    visitor.context.close()


def start_upload(page, path) -> None:
    page.get_by_label("Drop a file here, or choose one").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()


def requests_to(visitor: Visitor, method: str, prefix: str) -> int:
    return sum(1 for m, url in visitor.requests if m == method and prefix in url)


def shared_bytes(page) -> bytes:
    """The drop's bytes, fetched the way a recipient's client would (no password)."""
    share_link = page.get_by_label("Share link").input_value()
    token = share_link.rsplit("/", 1)[1]
    base = share_link.split("/d/", 1)[0]
    answer = requests.get(f"{base}/api/v1.0/file/{token}", timeout=60)
    assert answer.status_code == 200
    return answer.content


def test_a_cut_connection_resumes_by_itself_when_the_network_returns(valve, visitor, big_file):
    page = visitor.page
    page.goto(valve.url + "/")
    valve.hold_uploads(after_bytes=20 * MIB)
    start_upload(page, big_file)
    assert valve.holding.wait(60), "the upload never got half-way"
    expect(page.locator(".progress-text")).to_contain_text("left")
    screenshot(page, "resumable-progress")

    valve.cut()
    expect(page.locator("#progress label")).to_contain_text("Connection lost", timeout=30_000)
    screenshot(page, "resumable-connection-lost")
    valve.restore()

    expect(page.locator("#share-result")).to_be_visible(timeout=90_000)
    screenshot(page, "resumable-done")
    assert requests_to(visitor, "POST", UPLOADS) == 1, "the upload started over"
    assert requests_to(visitor, "HEAD", UPLOADS) >= 1, "it never asked where to go on from"
    assert (
        hashlib.sha256(shared_bytes(page)).digest()
        == hashlib.sha256(big_file.read_bytes()).digest()
    )


def test_a_reload_mid_upload_goes_on_from_the_servers_offset(valve, visitor, big_file):
    page = visitor.page
    page.goto(valve.url + "/")
    page.get_by_label("Downloads allowed").fill("2")
    valve.hold_uploads(after_bytes=24 * MIB)
    start_upload(page, big_file)
    assert valve.holding.wait(60), "the upload never got half-way"
    page.wait_for_function("() => document.querySelector('#upload-progress').value >= 20")

    page.reload()
    valve.release()
    valve.restore()
    page.get_by_label("Downloads allowed").fill("2")
    start_upload(page, big_file)

    expect(page.locator("#share-result")).to_be_visible(timeout=90_000)
    expect(page.locator("#share-result")).to_contain_text("2 downloads left of 2")
    assert requests_to(visitor, "POST", UPLOADS) == 1, "the reload started the upload over"
    assert requests_to(visitor, "HEAD", UPLOADS) == 1, "the reload did not ask for the offset"
    assert shared_bytes(page) == big_file.read_bytes()


def test_cancel_terminates_the_upload_on_the_server(valve, visitor, big_file):
    page = visitor.page
    page.goto(valve.url + "/")
    valve.hold_uploads(after_bytes=10 * MIB)
    start_upload(page, big_file)
    assert valve.holding.wait(60)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#result")).to_contain_text("Upload cancelled")
    valve.release()
    # tus-js-client's abort(true) ends the upload on the server, which frees its bytes.
    [upload_url] = {url for method, url in visitor.requests if method == "PATCH"}
    assert requests_to(visitor, "DELETE", UPLOADS) == 1
    gone = requests.head(upload_url, headers={"Tus-Resumable": "1.0.0"}, timeout=10)
    assert gone.status_code in (404, 410)
