"""Bad requests get a 4xx JSON error, never a 500, and leave nothing behind."""

import pytest

from tests.support.common import UPLOAD, multipart, upload

TOKEN = "0123456789abcdef0123456789abcdef"


def assert_json_error(response, status: int, error: str):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json["error"] == error


def test_body_that_is_not_multipart_is_400(client):
    response = client.simulate_put(
        UPLOAD, body=b'{"file": 1}', headers={"Content-Type": "application/json"}
    )
    assert_json_error(response, 400, "Bad Request")


def test_request_without_content_type_is_400(client):
    assert_json_error(client.simulate_put(UPLOAD, body=b"data"), 400, "Bad Request")


def test_multipart_without_boundary_is_400(client):
    body, _ = multipart(b"x")
    response = client.simulate_put(
        UPLOAD, body=body, headers={"Content-Type": "multipart/form-data"}
    )
    assert_json_error(response, 400, "Bad Request")


def test_truncated_multipart_is_400_and_leaves_no_temp_file(client, config, uploads_in_flight):
    body, headers = multipart(b"x" * 100_000)
    response = client.simulate_put(UPLOAD, body=body[: len(body) // 2], headers=headers)
    assert_json_error(response, 400, "Bad Request")
    assert uploads_in_flight() == []


def test_garbage_body_with_a_boundary_is_400(client):
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    response = client.simulate_put(UPLOAD, body=b"\x00\xff garbage", headers=headers)
    assert_json_error(response, 400, "Bad Request")


def test_multipart_without_a_file_part_is_400(client):
    from urllib3 import encode_multipart_formdata

    body, content_type = encode_multipart_formdata([("password", "pw")])
    response = client.simulate_put(UPLOAD, body=body, headers={"Content-Type": content_type})
    assert_json_error(response, 400, "Bad Request")


def test_two_file_parts_are_400_and_leave_no_temp_file(client, config, uploads_in_flight):
    from urllib3 import encode_multipart_formdata

    body, content_type = encode_multipart_formdata(
        [("file", ("a", b"a", "text/plain")), ("file", ("b", b"b", "text/plain"))]
    )
    response = client.simulate_put(UPLOAD, body=body, headers={"Content-Type": content_type})
    assert_json_error(response, 400, "Bad Request")
    assert uploads_in_flight() == []


@pytest.mark.parametrize("value", ["-1", "0", "abc", "1.5", "1e3", "604801", "٣", " ", "9" * 40])
def test_bad_expires_in_is_400(client, value, blobs):
    response = upload(client, expires_in=value)
    if value.strip() == "":
        assert response.status_code == 201  # blank means "use the default"
        return
    assert_json_error(response, 400, "Bad Request")
    assert not list(blobs.blob_tokens())


@pytest.mark.parametrize("value", ["-3", "0", "many", "101", "2.0"])
def test_bad_max_downloads_is_400(client, value):
    assert_json_error(upload(client, max_downloads=value), 400, "Bad Request")


def test_password_over_1024_characters_is_400(client):
    assert_json_error(upload(client, password="p" * 1025), 400, "Bad Request")


def test_upload_over_the_limit_by_content_length_is_413(client, config):
    headers = {
        "Content-Type": "multipart/form-data; boundary=b",
        "Content-Length": str(config.max_upload_bytes + 10 * 1024 * 1024),
    }
    response = client.simulate_put(UPLOAD, body=b"", headers=headers)
    assert_json_error(response, 413, "Payload Too Large")


def test_upload_over_the_limit_by_the_byte_counter_is_413(
    config, clock, immediate_huey, uploads_in_flight
):
    """A chunked body has no Content-Length; the counter catches it."""
    import dataclasses

    import falcon.testing

    from drop.app import create_app

    small = dataclasses.replace(config, max_upload_bytes=1000)
    client = falcon.testing.TestClient(create_app(small, clock=clock))
    body, headers = multipart(b"x" * 1001)
    response = client.simulate_put(UPLOAD, body=body, headers=headers)
    assert_json_error(response, 413, "Payload Too Large")
    assert uploads_in_flight() == []
    assert upload(client, b"x" * 1000).status_code == 201


@pytest.mark.parametrize(
    "token",
    [
        "short",
        "0123456789ABCDEF0123456789ABCDEF",
        TOKEN + "0",
        "g" * 32,
        "%00" * 11,
        "..%2f..%2fetc",
    ],
)
def test_bad_token_shapes_are_404(client, token):
    assert_json_error(client.simulate_get(f"/api/v1.0/file/{token}"), 404, "Not Found")


def test_unknown_route_is_json_404(client):
    assert_json_error(client.simulate_get("/api/v1.0/nothing"), 404, "Not Found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", UPLOAD),
        ("DELETE", UPLOAD),
        ("PATCH", f"/api/v1.0/file/{TOKEN}"),
        ("PUT", f"/api/v1.0/file/{TOKEN}"),
    ],
)
def test_wrong_method_is_405_with_allow(client, method, path):
    response = client.simulate_request(method, path)
    assert_json_error(response, 405, "Method Not Allowed")
    assert response.headers["Allow"]
