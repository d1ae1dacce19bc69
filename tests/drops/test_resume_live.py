"""Resumed downloads against real gunicorn (and real nginx with X-Accel-Redirect), the Huey
consumer and both databases: a one-time 16 MiB download cut after 5 MiB is finished by
curl with Range and If-Range and costs no second download; anyone else gets 410 at once;
the blob goes once the resume has sent the last byte (served directly) or when the resume
window closes (behind nginx, which drop cannot see finish); a Range without the grant's
ETag uses a download and gets the whole file, however many are sent at once."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
from contextlib import contextmanager

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from drop.config import Config
from drop.ops.nginx_conf import nginx_values
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.common import LiveServer, wait_until
from tests.support.cutting_relay import CuttingRelay
from tests.support.nginx import Nginx, wait_for_file_gone

MIB = 1024 * 1024
CONTENT = os.urandom(16 * MIB)
CUT = 5 * MIB
# Short, so the test sees the blob go; long enough for curl to resume on a busy machine.
WINDOW = 8
ACCEL = "/_drop_blobs"


@pytest.fixture(params=["direct", "nginx"])
def mode(request) -> str:
    return request.param


@contextmanager
def served(config, tmp_path, mode: str):
    """drop (gunicorn + Huey consumer), behind nginx in `nginx` mode; yields (url, nginx),
    nginx None in direct mode."""
    env = {"DROP_RESUME_WINDOW": WINDOW, "DROP_MAX_UPLOAD_BYTES": 32 * MIB}
    if mode == "nginx":
        env.update(DROP_ACCEL_REDIRECT=ACCEL, DROP_DELETE_GRACE_SECONDS=1)
    with LiveServer(config, with_worker=True, **env) as server:
        if mode == "direct":
            yield server.url, None
            return
        values = nginx_values(
            Config.from_env(server.env),
            listen="-",
            server_name="-",
            upstream=f"127.0.0.1:{server.port}",
        )
        with Nginx(tmp_path / "nginx", values) as nginx:
            yield nginx.url, nginx


def put(base: str, content: bytes, **fields) -> dict:
    made = requests.put(
        base + "/api/v1.0/file", files={"file": ("big.bin", content)}, data=fields, timeout=60
    )
    assert made.status_code == 201, made.text
    return made.json()


def blob_path(config, token: str):
    return config.data_dir / "blobs" / token[:2] / token


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def header(dump: str, name: str) -> str:
    """The one value of `name` in curl's -D dump of one answer."""
    values = re.findall(rf"^{name}:\s*(.*?)\r?$", dump, re.IGNORECASE | re.MULTILINE)
    assert len(values) == 1, dump
    return values[0]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_curl_resumes_a_cut_one_time_download_without_a_second_download(config, tmp_path, mode):
    part, first_headers, resumed_headers = (tmp_path / n for n in ("part", "h1", "h2"))
    with served(config, tmp_path, mode) as (base, nginx):
        made = put(base, CONTENT)
        path = f"/api/v1.0/file/{made['token']}"
        with CuttingRelay(port_of(base), CUT) as relay:
            cut = subprocess.run(
                ["curl", "-sS", "-o", part, "-D", first_headers, relay.url + path],
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert relay.cuts == 1
        assert cut.returncode != 0  # curl saw the connection reset
        assert part.stat().st_size == CUT
        dump = first_headers.read_text()
        assert dump.startswith("HTTP/1.1 200")
        etag = header(dump, "ETag")
        assert header(dump, "Accept-Ranges") == "bytes"
        assert re.fullmatch(r'"[^"]+"', etag)  # strong: no W/

        # The drop is gone for everyone else at once.
        assert requests.get(base + path, timeout=30).status_code == 410

        # curl -C - asks for bytes=<what it has>- ; the grant's ETag goes in If-Range.
        resumed = subprocess.run(
            ["curl", "-sS", "-C", "-", "-H", f"If-Range: {etag}", "-o", part]
            + ["-D", resumed_headers, "-w", "%{http_code}", base + path],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout == "206"
        dump = resumed_headers.read_text()
        assert header(dump, "Content-Range") == f"bytes {CUT}-{len(CONTENT) - 1}/{len(CONTENT)}"
        assert header(dump, "ETag") == etag
        assert header(dump, "Content-Disposition").startswith("attachment;")
        assert header(dump, "X-Content-Type-Options") == "nosniff"
        assert sha256(part.read_bytes()) == sha256(CONTENT)
        if nginx is not None:  # drop only decided; nginx sent the range from the blob
            token = made["token"]
            assert wait_until(lambda: any(e["status"] == "206" for e in nginx.access_entries()))
            sent = [e for e in nginx.access_entries() if e["status"] == "206"]
            assert [e["path"] for e in sent] == [f"{ACCEL}/resume/{token[:2]}/{token[:8]}..."]
            assert sent[0]["bytes"] == str(len(CONTENT) - CUT)

        # Still gone for everyone else. Served directly, the resume sent the last byte and
        # the blob goes at once; behind nginx it waits out the window, then the worker
        # deletes it. Either way the grant resumes nothing any more.
        assert requests.get(base + path, timeout=30).status_code == 410
        blob = blob_path(config, made["token"])
        assert wait_for_file_gone(blob, timeout=5 if nginx is None else WINDOW + 60)
        late = requests.get(
            base + path, headers={"Range": f"bytes={CUT}-", "If-Range": etag}, timeout=30
        )
        assert late.status_code == 410


def test_a_range_without_the_etag_uses_the_only_download(config, tmp_path, mode):
    with served(config, tmp_path, mode) as (base, _):
        made = put(base, CONTENT)
        ranged = requests.get(made["url"], headers={"Range": f"bytes={CUT}-"}, timeout=60)
        assert ranged.status_code == 200
        assert "Content-Range" not in ranged.headers
        assert sha256(ranged.content) == sha256(CONTENT)
        assert requests.get(made["url"], timeout=30).status_code == 410
        again = requests.get(made["url"], headers={"Range": f"bytes={CUT}-"}, timeout=30)
        assert again.status_code == 410


SIMULTANEOUS = 32


def test_parallel_ranges_with_a_stolen_wrong_etag_get_no_more_than_max_downloads(
    config, tmp_path, mode
):
    content = os.urandom(MIB)
    with served(config, tmp_path, mode) as (base, _):
        other = put(base, content)
        stolen = requests.get(other["url"], timeout=30).headers["ETag"]  # another drop's grant
        made = put(base, content, max_downloads=3)
        start = threading.Barrier(SIMULTANEOUS)
        answers: list[requests.Response] = []

        def ranged_get():
            start.wait()
            answers.append(
                requests.get(
                    made["url"],
                    headers={"Range": "bytes=1000-", "If-Range": stolen},
                    timeout=60,
                )
            )

        threads = [threading.Thread(target=ranged_get) for _ in range(SIMULTANEOUS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    statuses = sorted(answer.status_code for answer in answers)
    bodies = [a for a in answers if a.status_code in (200, 206)]
    assert len(bodies) == 3, statuses
    assert all(a.status_code == 200 and a.content == content for a in bodies), statuses
    assert statuses == [200] * 3 + [410] * (SIMULTANEOUS - 3)
    assert len({a.headers["ETag"] for a in bodies}) == 3  # one grant each


def finished(downloads, size: int) -> list:
    """The downloads Chromium has completed. It writes to <name>.crdownload and renames it once
    complete, but it may also reserve the final name with an empty file before then, so a name
    alone does not mean done: none may still be in progress and the file must be whole."""
    paths = list(downloads.iterdir())
    if any(path.suffix == ".crdownload" for path in paths):
        return []
    return [path for path in paths if path.stat().st_size >= size]


def test_chromium_resumes_its_own_cut_download(config, tmp_path, mode):
    """The browser's own resume: Chromium's download is cut by the relay and fails with a
    network error; "Resume" on chrome://downloads (what a person clicks) sends Range and
    If-Range with the grant's ETag, and the finished file is the upload's bytes."""
    downloads = tmp_path / "downloads"
    with served(config, tmp_path, mode) as (base, _), sync_playwright() as playwright:
        made = put(base, CONTENT)
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, downloads_path=downloads
        )
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.goto(base + "/")
            with CuttingRelay(port_of(base), CUT) as relay:
                with page.expect_download() as started:
                    page.evaluate(
                        """url => { const link = document.createElement("a");
                            link.href = url; document.body.append(link); link.click(); }""",
                        relay.url + f"/api/v1.0/file/{made['token']}",
                    )
                # Playwright reports Chromium's interrupted download as canceled.
                assert started.value.failure() == "canceled"
                assert relay.cuts == 1
                assert requests.get(made["url"], timeout=30).status_code == 410  # anyone else

                manager = context.new_page()
                manager.goto("chrome://downloads")
                item = manager.locator("downloads-item")
                expect(item).to_contain_text("Failed - Network error")
                item.locator("#more-actions").click()
                item.locator("#pause-or-resume").click()
                expect(item).not_to_contain_text("Failed", timeout=30_000)
                assert wait_until(lambda: finished(downloads, len(CONTENT)), timeout=60), [
                    (path.name, path.stat().st_size) for path in downloads.iterdir()
                ]
                (saved,) = finished(downloads, len(CONTENT))
                resume = relay.request_heads[-1]
            assert f"\r\nRange: bytes={CUT}-" in resume
            etag = re.search(r"\r\nIf-Range: ([^\r\n]*)", resume)[1]
            assert re.fullmatch(r'"[^"]+"', etag)
            assert sha256(saved.read_bytes()) == sha256(CONTENT)
            assert requests.get(made["url"], timeout=30).status_code == 410
        finally:
            browser.close()
