"""One log line per request, with the request id the client also gets; never a secret."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.common import UPLOAD, LiveServer, multipart, wait_until

PASSWORD = "correct-horse-battery"


def test_every_answer_carries_a_request_id(client):
    first = client.simulate_get("/healthz").headers["X-Request-Id"]
    second = client.simulate_get("/api/v1.0/file/nope").headers["X-Request-Id"]
    assert len(first) == 32 and first != second


def test_a_proxy_request_id_is_kept(client):
    response = client.simulate_get("/healthz", headers={"X-Request-Id": "f00dfeed1234abcd"})
    assert response.headers["X-Request-Id"] == "f00dfeed1234abcd"


@pytest.mark.parametrize("sent", ["short", "has spaces in it", "x" * 200, "line\u2028break-1234"])
def test_a_request_id_that_is_not_a_plain_token_is_replaced(client, sent):
    response = client.simulate_get("/healthz", headers={"X-Request-Id": sent})
    assert response.headers["X-Request-Id"] != sent


def exercise(server) -> tuple[list[str], str]:
    """Upload with a password, download with it (query and header), delete with the token."""
    body, headers = multipart(b"secret bytes", password=PASSWORD, max_downloads=3)
    made = requests.put(server.url + UPLOAD, data=body, headers=headers, timeout=10)
    url, delete_token = made.json()["url"], made.json()["delete_token"]
    answers = [
        made,
        requests.get(url, params={"password": PASSWORD}, timeout=10),
        requests.get(url, headers={"X-Drop-Password": PASSWORD}, timeout=10),
        requests.delete(url, headers={"X-Delete-Token": delete_token}, timeout=10),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 204]
    return [a.headers["X-Request-Id"] for a in answers], delete_token


@pytest.mark.parametrize("backend", ["sqlite"])
def test_json_log_has_one_line_per_request_and_no_secret(config):
    with LiveServer(config, workers=2, DROP_LOG_FORMAT="json") as server:
        ids, delete_token = exercise(server)
        wait_until(lambda: ids[-1] in server.log.read_text())
    lines = server.log.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line, gunicorn's own included
    access = [e for e in entries if e["logger"] == "access" and e["request_id"] in ids]
    assert [e["request_id"] for e in access] == ids
    assert [(e["method"], e["status"]) for e in access] == [
        ("PUT", 201),
        ("GET", 200),
        ("GET", 200),
        ("DELETE", 204),
    ]
    text = "\n".join(lines)
    assert PASSWORD not in text and delete_token not in text


@pytest.mark.parametrize("backend", ["sqlite"])
def test_text_log_has_the_request_id_and_no_secret(config):
    with LiveServer(config, workers=1) as server:
        ids, delete_token = exercise(server)
        wait_until(lambda: ids[-1] in server.log.read_text())
    text = server.log.read_text()
    for request_id in ids:
        assert sum(request_id in line for line in text.splitlines()) == 1
    assert PASSWORD not in text and delete_token not in text


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_newline_in_a_path_cannot_forge_a_log_line(config):
    with LiveServer(config, workers=1) as server:
        forged = '127.0.0.1 - "GET /forged HTTP/1.1" 200 0'
        requests.get(f"{server.url}/api/v1.0/file/x%0A{forged.replace(' ', '%20')}", timeout=10)
        assert wait_until(lambda: "forged" in server.log.read_text())
        lines = server.log.read_text().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    assert any("x\\x0a127.0.0.1" in line for line in lines)
