"""The web page in real headless Chromium against real gunicorn (SQLite backend)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from drop.config import Config
from drop.db import migrations
from drop.db.models import Drop, open_database
from tests.support.browser import (
    DESKTOP,
    Valve,
    drop_file,
    launch_chromium,
    screenshot,
)
from tests.support.common import LiveServer
from tests.support.page import share_token

MIB = 1024 * 1024
# Big enough that a held upload cannot fit in the socket buffers between browser and relay.
BIG_FILE = os.urandom(12 * MIB)


@pytest.fixture(scope="module")
def live_config(tmp_path_factory) -> Config:
    config = Config(data_dir=tmp_path_factory.mktemp("browser") / "data")
    config.data_dir.mkdir(parents=True)
    with open_database(config.effective_database_url) as database:
        migrations.migrate(database)
    return config


@pytest.fixture(scope="module")
def server(live_config):
    with LiveServer(live_config, workers=2) as live:
        yield live


@pytest.fixture
def valve(server):
    relay = Valve(server.port)
    yield relay
    relay.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


class Visitor:
    """One fresh browser context, recording every URL it requests."""

    def __init__(self, browser, javascript: bool = True):
        self.context = browser.new_context(
            viewport=DESKTOP, java_script_enabled=javascript, accept_downloads=True
        )
        self.requests: list[tuple[str, str]] = []
        self.context.on("request", lambda r: self.requests.append((r.method, r.url)))
        self.page = self.context.new_page()

    def download(self, button) -> bytes:
        with self.page.expect_download() as info:
            button.click()
        return Path(info.value.path()).read_bytes()

    def foreign_requests(self, origin: str) -> list[str]:
        return [url for _, url in self.requests if not url.startswith(origin + "/")]


@pytest.fixture
def visitors(browser):
    opened = []

    def open_visitor(javascript: bool = True) -> Visitor:
        visitor = Visitor(browser, javascript)
        opened.append(visitor)
        return visitor

    yield open_visitor
    for visitor in opened:
        visitor.context.close()


def drop_count(config: Config) -> int:
    with open_database(config.effective_database_url) as database:
        return Drop.select().bind(database).count()


def test_upload_share_and_download_twice_in_the_browser(valve, visitors):
    uploader = visitors()
    page = uploader.page
    page.goto(valve.url + "/")
    screenshot(page, "home-empty")

    page.get_by_label("Password").fill("s3cret")
    page.get_by_label("Downloads allowed").fill("2")
    drop_file(page, ".drop-zone", "holiday photos.zip", BIG_FILE)
    expect(page.locator(".chosen")).to_contain_text("holiday photos.zip (12.6 MB)")

    valve.hold_uploads(after_bytes=2 * MIB)
    page.get_by_role("button", name="Upload").click()
    assert valve.holding.wait(30), "the upload never reached the relay"
    page.wait_for_function(
        "() => { const v = document.querySelector('#upload-progress').value;"
        " return v > 0 && v < 100; }"
    )
    expect(page.locator(".progress-text")).to_contain_text("/s")
    screenshot(page, "home-uploading")
    valve.release()

    expect(page.locator("#share-result")).to_be_visible(timeout=30_000)
    assert page.locator("#upload-progress").evaluate("el => el.value") == 100
    expect(page.locator(".progress-text")).to_contain_text("100%")
    expect(page.locator("#share-result")).to_contain_text("2 downloads left of 2")
    expect(page.locator("#share-result svg.qr")).to_be_visible()
    share_link = page.get_by_label("Share link").input_value()
    assert share_link.startswith(valve.url + "/d/")
    copy = page.locator("button[data-copy=share-link]")
    copy.click()
    expect(copy).to_have_text("Copied")
    screenshot(page, "home-done")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "home-done-dark")
    page.emulate_media(color_scheme="light")
    assert uploader.foreign_requests(valve.url) == []

    recipient = visitors()
    share = recipient.page
    share.goto(share_link)
    # Protected: the link alone shows neither the name nor the size.
    expect(share.locator("h1")).to_have_text("A password-protected file")
    expect(share.locator("#main")).not_to_contain_text("holiday photos")
    expect(share.locator(".downloads-left")).to_have_text("2 downloads left of 2")
    screenshot(share, "share")

    share.get_by_label("Password").fill("wrong")
    share.get_by_role("button", name="Download").click()
    expect(share.locator("#password-error")).to_have_text("That password is not right.")
    expect(share.get_by_label("Password")).to_be_visible()
    screenshot(share, "share-wrong-password")

    share.get_by_label("Password").fill("s3cret")
    assert recipient.download(share.get_by_role("button", name="Download")) == BIG_FILE
    # The page stays after an attachment; it refreshes its count once the server has it.
    expect(share.locator(".downloads-left")).to_have_text("1 download left of 2", timeout=15_000)

    share.get_by_label("Password").fill("s3cret")
    assert recipient.download(share.get_by_role("button", name="Download")) == BIG_FILE
    expect(share.locator("#main")).to_contain_text("This file is gone", timeout=15_000)
    screenshot(share, "share-after-last-download")

    response = share.goto(share_link)
    assert response.status == 410
    expect(share.locator("h1")).to_have_text("This file is gone")
    screenshot(share, "share-gone")
    assert recipient.foreign_requests(valve.url) == []


def test_upload_and_download_work_without_javascript(server, visitors, live_config):
    uploader = visitors(javascript=False)
    page = uploader.page
    page.goto(server.url + "/")
    expect(page.locator("#progress")).to_be_hidden()
    page.get_by_label("Drop a file here, or choose one").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"no script needed\n"}]
    )
    page.get_by_label("Password").fill("pw")
    page.get_by_label("Expires after").select_option(label="1 hour")
    page.get_by_role("button", name="Upload").click()

    expect(page.locator("#share-result")).to_contain_text("1 download, then it is deleted")
    expect(page.locator("#share-result")).to_contain_text("Expires in 1 hour")
    share_link = page.get_by_label("Share link").input_value()
    screenshot(page, "nojs-done")

    recipient = visitors(javascript=False)
    share = recipient.page
    share.goto(share_link)
    share.get_by_label("Password").fill("pw")
    assert recipient.download(share.get_by_role("button", name="Download")) == b"no script needed\n"
    assert share.goto(share_link).status == 410
    assert uploader.foreign_requests(server.url) == []
    assert recipient.foreign_requests(server.url) == []


def test_too_large_file_is_refused_in_the_browser_before_sending(server, visitors):
    visitor = visitors()
    page = visitor.page
    page.goto(server.url + "/")
    drop_file(page, ".drop-zone", "huge.bin", b"\0" * (16 * MIB + 1))
    expect(page.locator("#result")).to_contain_text("That file is too large")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#result")).to_contain_text("files may be at most 16.8 MB")
    assert ("POST", server.url + "/") not in visitor.requests


def test_server_refusal_is_shown_in_place(server, visitors):
    page = visitors().page
    page.goto(server.url + "/")
    drop_file(page, ".drop-zone", "a.txt", b"a")
    # A value the form would refuse: the server must refuse it too, and say why.
    page.locator("#max_downloads").evaluate("el => { el.removeAttribute('max'); el.value = 5000 }")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#result [role=alert]")).to_contain_text("max_downloads must be from 1")


def test_cancel_stops_the_upload_and_stores_nothing(valve, visitors, live_config):
    before = drop_count(live_config)
    page = visitors().page
    page.goto(valve.url + "/")
    drop_file(page, ".drop-zone", "big.bin", BIG_FILE)
    valve.hold_uploads(after_bytes=MIB)
    page.get_by_role("button", name="Upload").click()
    assert valve.holding.wait(30)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#result")).to_contain_text("Upload cancelled")
    valve.release()
    expect(page.locator("#progress")).to_be_hidden()
    assert drop_count(live_config) == before


def test_home_page_is_usable_with_the_keyboard(server, visitors):
    page = visitors().page
    page.goto(server.url + "/")
    focused = "(el => el.id || el.textContent.trim())(document.activeElement)"
    reached = []
    for _ in range(6):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(focused))
    assert reached == ["drop", "file", "password", "expires_in", "max_downloads", "Upload"]
    page.keyboard.press("Shift+Tab")
    focus_ring = page.locator("#max_downloads").evaluate("el => getComputedStyle(el).outlineStyle")
    assert focus_ring == "solid"


def test_uploader_deletes_from_the_browser_after_confirming(server, visitors):
    page = visitors().page
    page.goto(server.url + "/")
    drop_file(page, ".drop-zone", "oops.txt", b"sent to the wrong person")
    page.get_by_role("button", name="Upload").click()
    share_link = page.get_by_label("Share link").input_value()
    page.get_by_role("link", name="Delete this file now").click()
    expect(page.locator("h1")).to_contain_text("Delete oops.txt?")
    page.get_by_role("button", name="Delete the file").click()
    expect(page.locator("h1")).to_have_text("Deleted")
    assert page.goto(share_link).status == 410


def test_link_preview_bots_hitting_the_real_server_use_no_download(server, live_config):
    made = requests.post(
        server.url + "/",
        files={"file": ("once.txt", b"only once")},
        data={"max_downloads": "1"},
        timeout=10,
    )
    assert made.status_code == 201
    token = share_token(made)
    link = f"{server.url}/d/{token}"
    bot = {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}
    for _ in range(20):
        assert requests.get(link, headers=bot, timeout=10).status_code == 200
        assert requests.head(link, headers=bot, timeout=10).status_code == 200
    with open_database(live_config.effective_database_url) as database:
        assert Drop.select().where(Drop.token == token).bind(database).get().downloads == 0
    pressed = requests.post(link, timeout=10)
    assert pressed.content == b"only once"
