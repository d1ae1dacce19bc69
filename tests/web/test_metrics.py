"""/metrics: Prometheus text that counts what drop does, added up across gunicorn workers."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from drop import tasks
from tests.support.common import UPLOAD, LiveServer, multipart, upload, wait_until
from tests.support.page import page_upload, press_download, share_token


def samples(text: str) -> dict:
    """{(name, labels as sorted tuple): value} for every sample in an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(client) -> dict:
    response = client.simulate_get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(response.text)


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_an_upload_and_a_download(client):
    before = scrape(client)
    token = upload(client, b"12345").json["token"]
    client.simulate_get(f"/api/v1.0/file/{token}")
    client.simulate_get(f"/api/v1.0/file/{token}")  # gone: not a download
    after = scrape(client)
    assert value(after, "drop_uploads_total") - value(before, "drop_uploads_total") == 1
    assert value(after, "drop_downloads_total") - value(before, "drop_downloads_total") == 1
    assert (
        value(after, "drop_received_bytes_total") - value(before, "drop_received_bytes_total") == 5
    )
    assert value(after, "drop_sent_bytes_total") - value(before, "drop_sent_bytes_total") == 5


def test_metrics_count_uploads_and_downloads_made_through_the_page(client):
    before = scrape(client)
    token = share_token(page_upload(client, b"1234567"))
    client.simulate_get(f"/d/{token}")  # looking at the share page is not a download
    assert press_download(client, token).status_code == 200
    after = scrape(client)
    assert value(after, "drop_uploads_total") - value(before, "drop_uploads_total") == 1
    assert value(after, "drop_downloads_total") - value(before, "drop_downloads_total") == 1
    assert value(after, "drop_sent_bytes_total") - value(before, "drop_sent_bytes_total") == 7


def test_metrics_show_live_drops_and_their_bytes(client):
    upload(client, b"1234")
    upload(client, b"123456")
    gone = upload(client, b"12").json["token"]
    client.simulate_get(f"/api/v1.0/file/{gone}")
    found = scrape(client)
    assert value(found, "drop_live_drops") == 2
    assert value(found, "drop_stored_bytes") == 10


@pytest.mark.parametrize("backend", ["postgres"])
def test_metrics_count_4xx_cache_hits_and_misses(client):
    before = scrape(client)
    for _ in range(3):
        assert client.simulate_get("/api/v1.0/file/" + "0" * 32).status_code == 404
    after = scrape(client)
    misses = value(after, "drop_error_cache_total", result="miss")
    hits = value(after, "drop_error_cache_total", result="hit")
    assert misses - value(before, "drop_error_cache_total", result="miss") == 1
    assert hits - value(before, "drop_error_cache_total", result="hit") == 2


def test_metrics_time_requests_by_route_not_by_path(client):
    token = upload(client).json["token"]
    client.simulate_get(f"/api/v1.0/file/{token}")
    found = scrape(client)
    route = "/api/v1.0/file/{token}"
    assert value(found, "drop_request_duration_seconds_count", method="GET", route=route) >= 1
    assert not [key for key in found if token in str(key)]


def test_metrics_count_a_failing_task(client, immediate_huey, tmp_path):
    before = value(scrape(client), "drop_task_failures_total", task="delete_blob")
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("blobs cannot live under a file")
    tasks.delete_blob(str(not_a_directory), "0" * 32)
    after = value(scrape(client), "drop_task_failures_total", task="delete_blob")
    assert after - before == 1


@pytest.mark.parametrize("backend", ["postgres"])
def test_metrics_add_up_every_gunicorn_worker(config):
    with LiveServer(config, workers=3) as server:
        for content in (b"a", b"bb", b"ccc"):
            body, headers = multipart(content)
            made = requests.put(server.url + UPLOAD, data=body, headers=headers, timeout=10)
            assert made.status_code == 201
        assert requests.get(made.json()["url"], timeout=10).content == b"ccc"
        # Each scrape may be answered by any worker; every one must see the whole count.
        scrapes = [
            samples(requests.get(server.url + "/metrics", timeout=10).text) for _ in range(8)
        ]
    for found in scrapes:
        assert value(found, "drop_uploads_total") == 3
        assert value(found, "drop_downloads_total") == 1
        assert value(found, "drop_received_bytes_total") == 6
        assert value(found, "drop_sent_bytes_total") == 3
        assert value(found, "drop_live_drops") == 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_metrics_show_task_failures_of_the_worker_process(config):
    # A grace delay, so the deletion is the worker's task: a local blob due at once is
    # deleted by the web process itself.
    with LiveServer(config, workers=2, with_worker=True, DROP_DELETE_GRACE_SECONDS=1) as server:
        body, headers = multipart(b"x")
        made = requests.put(server.url + UPLOAD, data=body, headers=headers, timeout=10).json()
        # A directory where the blob should be: deleting it fails in the Huey worker.
        blob = config.data_dir / "blobs" / made["token"][:2] / made["token"]
        blob.unlink()
        blob.mkdir()
        deleted = requests.delete(
            made["url"], headers={"X-Delete-Token": made["delete_token"]}, timeout=10
        )
        assert deleted.status_code == 204

        def failures() -> float:
            text = requests.get(server.url + "/metrics", timeout=10).text
            return value(samples(text), "drop_task_failures_total", task="delete_blob")

        assert wait_until(lambda: failures() >= 1), server.log.read_text()
