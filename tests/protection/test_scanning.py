"""The clamd client (drop/protection/scanning.py) against a real clamd and our signatures."""

from __future__ import annotations

import io

import pytest

from drop.config import Config
from drop.protection.scanning import Clamd, ScannerUnavailable, ScanTooLarge
from tests.support.clamd_server import (
    EICAR,
    EICAR_SIGNATURE,
    MALWARE,
    MALWARE_SIGNATURE,
    STREAM_MAX_BYTES,
    UNOFFICIAL,
)


class CountingReader(io.BytesIO):
    """A stream that remembers the largest read asked of it."""

    largest_read = 0

    def read(self, size=-1):
        self.largest_read = max(self.largest_read, size)
        return super().read(size)


def test_a_clean_file_is_clean(clamd):
    verdict = clamd.client.scan(io.BytesIO(b"nothing to see here\n" * 1000))
    assert not verdict.infected and verdict.signature is None


def test_a_file_matching_a_hash_signature_is_infected(clamd):
    verdict = clamd.client.scan(io.BytesIO(MALWARE))
    assert verdict.infected
    assert verdict.signature == MALWARE_SIGNATURE + UNOFFICIAL


def test_the_eicar_string_is_found_inside_a_larger_file(clamd):
    verdict = clamd.client.scan(io.BytesIO(b"x" * 700_000 + EICAR + b"y" * 10))
    assert verdict.signature == EICAR_SIGNATURE + UNOFFICIAL


def test_the_file_is_sent_in_chunks_never_read_whole(clamd):
    stream = CountingReader(b"z" * (STREAM_MAX_BYTES - 1))
    assert not clamd.client.scan(stream).infected
    assert 0 < stream.largest_read <= 256 * 1024


def test_a_stream_past_clamds_limit_is_too_large(clamd):
    with pytest.raises(ScanTooLarge):
        clamd.client.scan(io.BytesIO(b"z" * (STREAM_MAX_BYTES + 300_000)))


def test_clamd_answers_ping(clamd):
    clamd.client.ping()


def test_no_clamd_at_the_socket_is_unavailable(tmp_path):
    client = Clamd(socket_path=str(tmp_path / "nothing.sock"), timeout=1)
    with pytest.raises(ScannerUnavailable):
        client.ping()
    with pytest.raises(ScannerUnavailable):
        client.scan(io.BytesIO(b"data"))


def test_nothing_listening_on_a_tcp_port_is_unavailable():
    from tests.support.common import free_port

    client = Clamd(host=f"127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(ScannerUnavailable):
        client.scan(io.BytesIO(b"data"))


def test_from_config_is_none_while_scanning_is_off(tmp_path):
    assert Clamd.from_config(Config(data_dir=tmp_path)) is None
    on = Clamd.from_config(Config(data_dir=tmp_path, clamd_host="[::1]:3310"))
    assert on.address == ("::1", 3310)
