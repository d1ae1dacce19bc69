"""Hostile and unusual file names are stored safely and echoed back correctly."""

from urllib.parse import quote

import pytest

from drop.db.models import Drop
from drop.drops.filenames import content_disposition, sanitize_filename
from tests.support.common import UPLOAD, upload


def raw_multipart(filename_header_bytes: bytes, content: bytes = b"data") -> tuple[bytes, dict]:
    """A body whose filename is exactly these bytes (urllib3 would encode them)."""
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename_header_bytes
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + b"\r\n--b--\r\n"
    )
    return body, {"Content-Type": "multipart/form-data; boundary=b"}


def stored_name(client, filename) -> str:
    response = upload(client, filename=filename)
    assert response.status_code == 201, response.text
    return Drop.get(Drop.token == response.json["token"]).filename


def test_path_traversal_keeps_only_the_last_component(client, config):
    assert stored_name(client, "../../../etc/passwd") == "passwd"
    assert stored_name(client, "..\\..\\boot.ini") == "boot.ini"
    assert not (config.data_dir.parent / "etc").exists()


def test_nul_and_control_characters_are_removed(client):
    assert stored_name(client, "evil\x00name\x1b.txt") == "evilname.txt"


def test_right_to_left_override_cannot_disguise_the_extension(client):
    assert stored_name(client, "invoice\u202efdp.exe") == "invoicefdp.exe"


@pytest.mark.parametrize(
    "invisible", ["\u202e", "\u202d", "\u2066", "\u2069", "\u200b", "\u200e", "\ufeff", "\u00ad"]
)
def test_invisible_format_characters_are_removed(invisible):
    assert sanitize_filename(f"re{invisible}port.pdf") == "report.pdf"


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_unicode_line_and_paragraph_separators_are_removed(client, separator):
    assert stored_name(client, f"re{separator}port.pdf") == "report.pdf"


def test_a_name_of_only_format_characters_falls_back_to_file():
    assert sanitize_filename("\u202e\u200b") == "file"


def test_thousand_character_name_is_cut_to_255_keeping_the_extension(client):
    name = stored_name(client, "a" * 1000 + ".pdf")
    assert len(name) == 255 and name.endswith(".pdf")


def test_invalid_utf8_bytes_are_stored_with_replacement_characters(client):
    body, headers = raw_multipart(b"caf\xe9-\xff\xfe.txt")
    response = client.simulate_put(UPLOAD, body=body, headers=headers)
    assert response.status_code == 201, response.text
    name = Drop.get(Drop.token == response.json["token"]).filename
    assert name.startswith("caf") and name.endswith(".txt") and "\ufffd" in name


def test_cjk_name_comes_back_in_filename_star(client):
    token = upload(client, b"cjk", filename="報告書 2026.pdf").json["token"]
    disposition = client.simulate_get(f"/api/v1.0/file/{token}").headers["Content-Disposition"]
    assert f"filename*=UTF-8''{quote('報告書 2026.pdf', safe='')}" in disposition
    assert disposition.isascii()


def test_raw_utf8_name_in_the_header_is_understood(client):
    body, headers = raw_multipart("Ünïcødé ✓.txt".encode())
    token = client.simulate_put(UPLOAD, body=body, headers=headers).json["token"]
    assert Drop.get(Drop.token == token).filename == "Ünïcødé ✓.txt"


def test_rfc5987_filename_star_in_the_upload_is_understood(client):
    body = (
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E6%97%A5.txt"
        b"\r\n\r\nx\r\n--b--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    token = client.simulate_put(UPLOAD, body=body, headers=headers).json["token"]
    assert Drop.get(Drop.token == token).filename == "日.txt"


@pytest.mark.parametrize("raw", [None, "", ".", "..", "/", "\x00\x00"])
def test_empty_or_dot_names_fall_back_to_file(raw):
    assert sanitize_filename(raw) == "file"


def test_disposition_quotes_cannot_break_out_of_the_fallback():
    header = content_disposition('a"; filename="evil.html')
    fallback = header.split(";")[1]
    assert fallback.count('"') == 2


@pytest.mark.parametrize(
    "content_type", ["bogus", "../../x", "text/html; <script>", "a/" + "b" * 300]
)
def test_bogus_content_type_falls_back_to_octet_stream(client, content_type):
    token = upload(client, content_type=content_type).json["token"]
    assert Drop.get(Drop.token == token).content_type == "application/octet-stream"
