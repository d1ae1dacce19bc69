"""Resuming a granted download: the ETag each grant carries, what a Range with it in If-Range
gets (206, no download used) and what any other Range gets (a download, the whole file).
Real gunicorn, nginx, curl and Chromium: tests/drops/test_resume_live.py."""

from __future__ import annotations

import dataclasses
import datetime
import os
import stat

import falcon.testing
import pytest

from drop.app import create_app
from drop.clock import utcnow
from drop.config import DAY, Config, ConfigError
from drop.db.models import DELETED, Drop, db
from drop.drops import lifecycle as drops
from drop.drops.grants import GrantSigner
from drop.drops.server_key import ServerKey
from drop.ops import blocking
from drop.protection import blocks
from drop.storage.local import LocalStorage
from drop.tasks import huey
from tests.support.common import upload
from tests.support.cut_downloads import cut, start
from tests.support.page import FORM, press_download

CONTENT = os.urandom(100_000)
ACCEL = "/_drop_blobs"


def path(token: str) -> str:
    return f"/api/v1.0/file/{token}"


def resume(client, token: str, etag: str, first: int = 60_000, last: str = "", **headers):
    return client.simulate_get(
        path(token), headers={"Range": f"bytes={first}-{last}", "If-Range": etag, **headers}
    )


def cut_etag(client, token: str, **headers) -> str:
    """The ETag of a download of `token` whose connection broke after its first chunk."""
    return cut(client, path(token), headers=headers).headers["etag"]


def downloads(token: str) -> int:
    return Drop.get(Drop.token == token).downloads


def test_each_download_carries_a_strong_etag_of_its_own_and_accept_ranges(client):
    token = upload(client, CONTENT, max_downloads=2).json["token"]
    first, second = (client.simulate_get(path(token)) for _ in range(2))
    assert first.headers["Accept-Ranges"] == "bytes"
    assert first.headers["ETag"].startswith('"') and first.headers["ETag"].endswith('"')
    assert first.headers["ETag"] != second.headers["ETag"]


def test_a_range_with_the_grants_etag_is_206_and_uses_no_download(client):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    assert client.simulate_get(path(token)).status_code == 410  # gone for everyone else
    resumed = resume(client, token, etag)
    assert resumed.status_code == 206
    assert resumed.content == CONTENT[60_000:]
    assert resumed.headers["Content-Range"] == f"bytes 60000-{len(CONTENT) - 1}/{len(CONTENT)}"
    assert resumed.headers["Content-Length"] == str(len(CONTENT) - 60_000)
    assert resumed.headers["ETag"] == etag
    assert resumed.headers["Content-Disposition"].startswith("attachment;")
    assert resumed.headers["Content-Security-Policy"] == "sandbox"
    assert downloads(token) == 1
    # It sent the file's last byte: the download is complete and the blob is gone.
    assert resume(client, token, etag).status_code == 410


@pytest.mark.parametrize(
    ("wanted", "content_range", "part"),
    [
        ("bytes=0-99", "bytes 0-99/100000", slice(0, 100)),
        ("bytes=-10", "bytes 99990-99999/100000", slice(99_990, None)),
        ("bytes=99990-200000", "bytes 99990-99999/100000", slice(99_990, None)),
    ],
)
def test_single_ranges_of_every_form(client, wanted, content_range, part):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    resumed = client.simulate_get(path(token), headers={"Range": wanted, "If-Range": etag})
    assert (resumed.status_code, resumed.headers["Content-Range"]) == (206, content_range)
    assert resumed.content == CONTENT[part]


def test_a_range_past_the_end_is_416_and_uses_no_download(client):
    token = upload(client, CONTENT, max_downloads=2).json["token"]
    etag = client.simulate_get(path(token)).headers["ETag"]
    refused = resume(client, token, etag, first=len(CONTENT))
    assert refused.status_code == 416
    assert refused.headers["Content-Range"] == f"bytes */{len(CONTENT)}"
    assert refused.json["detail"] == f"the file has {len(CONTENT)} bytes"
    assert downloads(token) == 1


def test_a_range_without_if_range_uses_a_download_and_gets_the_whole_file(client):
    token = upload(client, CONTENT).json["token"]
    ranged = client.simulate_get(path(token), headers={"Range": "bytes=60000-"})
    assert ranged.status_code == 200
    assert ranged.content == CONTENT
    assert "Content-Range" not in ranged.headers
    assert client.simulate_get(path(token), headers={"Range": "bytes=0-"}).status_code == 410


@pytest.mark.parametrize(
    "forge",
    [
        lambda etag, other: other,  # another drop's grant
        lambda etag, other: etag[:-3] + ('A"' if etag[-2] != "A" else 'B"'),  # a changed MAC
        lambda etag, other: '"2' + etag[2:],  # another grant number, same MAC
        lambda etag, other: "W/" + etag,  # weak: never equal for If-Range
        lambda etag, other: "Tue, 24 Nov 2026 10:00:00 GMT",  # a date
    ],
    ids=["stolen", "mac", "number", "weak", "date"],
)
def test_any_other_if_range_uses_a_download_and_gets_the_whole_file(client, forge):
    other = upload(client, CONTENT).json["token"]
    stolen = client.simulate_get(path(other)).headers["ETag"]
    token = upload(client, CONTENT, max_downloads=2).json["token"]
    etag = client.simulate_get(path(token)).headers["ETag"]
    ranged = resume(client, token, forge(etag, stolen))
    assert (ranged.status_code, ranged.content) == (200, CONTENT)
    assert downloads(token) == 2


def test_a_malformed_or_multiple_range_is_an_ordinary_download(client):
    token = upload(client, CONTENT, max_downloads=4).json["token"]
    etag = client.simulate_get(path(token)).headers["ETag"]
    for wanted in ("bytes=0-1,5-6", "bytes=9-3", "lines=1-2"):
        answer = client.simulate_get(path(token), headers={"Range": wanted, "If-Range": etag})
        assert (answer.status_code, answer.content) == (200, CONTENT)
    assert downloads(token) == 4


def test_the_etag_resumes_nothing_once_the_window_is_over(client, clock, config):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    clock.advance(config.resume_window - 1)
    assert resume(client, token, etag, first=0, last="9").status_code == 206
    clock.advance(2)
    assert resume(client, token, etag, first=0, last="9").status_code == 410


def test_a_protected_drop_asks_for_its_password_again(client):
    token = upload(client, CONTENT, password="pw").json["token"]
    etag = cut_etag(client, token, **{"X-Drop-Password": "pw"})
    assert resume(client, token, etag).status_code == 401
    assert resume(client, token, etag, **{"X-Drop-Password": "nope"}).status_code == 401
    assert (
        resume(client, token, etag, first=0, last="4", **{"X-Drop-Password": "pw"}).status_code
        == 206
    )
    query = client.simulate_get(
        path(token), params={"password": "pw"}, headers={"Range": "bytes=5-", "If-Range": etag}
    )
    assert (query.status_code, query.content) == (206, CONTENT[5:])
    assert downloads(token) == 1


def test_deleting_the_drop_ends_its_resumes(client):
    made = upload(client, CONTENT, max_downloads=2).json
    etag = cut_etag(client, made["token"])
    client.simulate_delete(path(made["token"]), headers={"X-Delete-Token": made["delete_token"]})
    assert resume(client, made["token"], etag).status_code == 410


def test_the_named_link_form_resumes_too(client):
    token = upload(client, CONTENT).json["token"]
    etag = cut(client, path(token) + "/any.bin").headers["etag"]
    resumed = client.simulate_get(
        path(token) + "/any.bin", headers={"Range": "bytes=1-", "If-Range": etag}
    )
    assert (resumed.status_code, resumed.content) == (206, CONTENT[1:])


def test_the_share_pages_download_resumes_with_its_form(client):
    token = upload(client, CONTENT, password="pw").json["token"]
    pressed = cut(client, f"/d/{token}", "POST", body="password=pw", headers=FORM)
    assert pressed.status == 200
    etag = pressed.headers["etag"]
    headers = {**FORM, "Range": "bytes=99000-", "If-Range": etag}
    resumed = client.simulate_post(f"/d/{token}", body="password=pw", headers=headers)
    assert (resumed.status_code, resumed.content) == (206, CONTENT[99_000:])
    wrong = client.simulate_post(f"/d/{token}", body="password=no", headers=headers)
    assert wrong.status_code == 401
    assert press_download(client, token, "pw").status_code == 410


def test_a_completed_download_deletes_the_blob_at_once(client, config):
    token = upload(client, CONTENT).json["token"]
    got = client.simulate_get(path(token))
    assert (got.status_code, got.content) == (200, CONTENT)
    assert not LocalStorage(config.data_dir).exists(token) if config.storage == "local" else True
    assert Drop.get(Drop.token == token).blob_deleted_at is not None
    assert resume(client, token, got.headers["ETag"]).status_code == 410


def test_a_cut_download_keeps_the_blob_for_the_window_only(client, config, clock):
    token = upload(client, CONTENT).json["token"]
    granted = clock()
    cut_etag(client, token)
    storage = LocalStorage(config.data_dir)
    assert storage.exists(token)
    (deletion,) = [task for task in huey.scheduled() if task.args[1] == token]
    assert deletion.eta >= granted + datetime.timedelta(seconds=config.resume_window)
    huey.flush()
    # The sweep (the fallback when the queue fails) keeps it as long.
    window = config.resume_window
    clock.advance(window - 1)
    assert drops.sweep(storage, clock(), resume_window=window).blobs_deleted == 0
    clock.advance(2)
    assert drops.sweep(storage, clock(), resume_window=window).blobs_deleted == 1
    assert not storage.exists(token)


def test_a_completed_resume_deletes_the_blob_at_once(client, config):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    assert resume(client, token, etag, first=0, last="99").status_code == 206
    assert LocalStorage(config.data_dir).exists(token)  # a range short of the end: not yet
    assert resume(client, token, etag).status_code == 206
    assert not LocalStorage(config.data_dir).exists(token)
    assert resume(client, token, etag).status_code == 410


def test_a_cut_resume_keeps_the_blob_and_resumes_again(client, config):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    broken = cut(client, path(token), headers={"Range": "bytes=1000-", "If-Range": etag})
    assert broken.status == 206
    again = resume(client, token, etag, first=1000)
    assert (again.status_code, again.content) == (206, CONTENT[1000:])
    assert not LocalStorage(config.data_dir).exists(token)


def test_the_resumes_of_one_grant_send_no_more_than_the_file_holds(client):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    assert resume(client, token, etag, first=0, last="59999").status_code == 206
    assert resume(client, token, etag, first=0, last="39999").status_code == 206
    # 100,000 bytes sent again: the next one would be more than the file holds.
    assert resume(client, token, etag, first=0, last="0").status_code == 410


def test_a_cut_resume_gives_back_what_it_did_not_send(client):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    for _ in range(3):
        cut(client, path(token), headers={"Range": "bytes=0-", "If-Range": etag})
    whole = resume(client, token, etag, first=0)
    assert (whole.status_code, whole.content) == (206, CONTENT)


def test_the_uploaders_delete_ends_a_pending_resume_and_deletes_the_blob(client, config):
    made = upload(client, CONTENT).json
    etag = cut_etag(client, made["token"])
    deleted = client.simulate_delete(
        path(made["token"]), headers={"X-Delete-Token": made["delete_token"]}
    )
    assert deleted.status_code == 204
    assert not LocalStorage(config.data_dir).exists(made["token"])
    assert resume(client, made["token"], etag).status_code == 410


def test_a_revocation_ends_a_pending_resume_and_deletes_the_blob(client, config, clock):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    storage = LocalStorage(config.data_dir)
    drops.revoke_drop(storage, token, clock())
    assert not storage.exists(token)
    assert resume(client, token, etag).status_code == 410


def test_blocking_the_uploader_ends_a_pending_resume_and_deletes_the_blob(client, config, clock):
    token = upload(client, CONTENT).json["token"]  # from the test client's 127.0.0.1
    etag = cut_etag(client, token)
    storage = LocalStorage(config.data_dir)
    outcome = blocking.block(
        blocks.address_target("127.0.0.1"),
        "spam",
        actor="cli",
        address=None,
        now=clock(),
        storage=storage,
        revoke_drops=True,
    )
    assert [drop.token for drop in outcome.revoked] == [token]
    assert not storage.exists(token)
    assert resume(client, token, etag).status_code == 410


def test_an_expiry_ends_a_pending_resume_and_the_sweep_deletes_the_blob(client, config, clock):
    token = upload(client, CONTENT, expires_in=60).json["token"]
    etag = cut_etag(client, token)
    clock.advance(61)
    assert resume(client, token, etag).status_code == 410
    storage = LocalStorage(config.data_dir)
    window = config.resume_window
    assert drops.sweep(storage, clock(), resume_window=window).blobs_deleted == 1
    assert not storage.exists(token)


def test_the_window_keeps_no_deleted_drops_blob(client, config, clock):
    token = upload(client, CONTENT).json["token"]
    drops.end_drop(token, DELETED, clock())  # as the delete link does, queue aside
    clock.advance(1)
    storage = LocalStorage(config.data_dir)
    assert drops.sweep(storage, clock(), resume_window=config.resume_window).blobs_deleted == 1
    assert not storage.exists(token)


@pytest.mark.parametrize("backend", ["postgres"])  # the backend with the Redis 4XX cache
def test_a_resume_never_meets_a_cached_410(client):
    token = upload(client, CONTENT).json["token"]
    etag = cut_etag(client, token)
    client.simulate_get(path(token))
    assert client.simulate_get(path(token)).headers["X-Drop-Cache"] == "hit"
    assert resume(client, token, etag).status_code == 206
    # An invented If-Range does not get around the cache.
    forged = resume(client, token, '"1.1.AAAAAAAAAAAAAAAAAAAAAA"')
    assert (forged.status_code, forged.headers["X-Drop-Cache"]) == (410, "hit")


@pytest.fixture
def accel_client(config, clock, immediate_huey):
    accel = dataclasses.replace(config, accel_redirect=ACCEL, delete_grace_seconds=60)
    yield falcon.testing.TestClient(create_app(accel, clock=clock))
    if not db.is_closed():
        db.close()


def test_behind_nginx_a_resume_names_the_range_location(accel_client):
    token = upload(accel_client, CONTENT).json["token"]
    granted = accel_client.simulate_get(path(token))
    assert granted.headers["X-Accel-Redirect"] == f"{ACCEL}/{token[:2]}/{token}"
    etag = granted.headers["ETag"]
    resumed = resume(accel_client, token, etag)
    assert resumed.headers["X-Accel-Redirect"] == f"{ACCEL}/resume/{token[:2]}/{token}"
    assert resumed.headers["ETag"] == etag  # nginx checks If-Range against it
    assert resume(accel_client, token, etag, first=len(CONTENT)).status_code == 416
    bare = accel_client.simulate_get(path(token), headers={"Range": "bytes=1-"})
    assert bare.status_code == 410


def test_no_window_no_etag(config, clock, immediate_huey):
    client = falcon.testing.TestClient(
        create_app(dataclasses.replace(config, resume_window=0), clock=clock)
    )
    token = upload(client, CONTENT).json["token"]
    got = client.simulate_get(path(token))
    assert "ETag" not in got.headers and "Accept-Ranges" not in got.headers


def test_the_key_is_made_once_private_and_shared(tmp_path):
    first, second = ServerKey(None, tmp_path), ServerKey(None, tmp_path)
    assert first.material() == second.material()
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert ServerKey("k" * 32, tmp_path).material() == b"k" * 32


def test_grants_made_under_one_key_fail_under_another(tmp_path):
    now = utcnow()
    one = GrantSigner(ServerKey("a" * 32, tmp_path), 3600)
    other = GrantSigner(ServerKey("b" * 32, tmp_path), 3600)
    etag = one.etag("0" * 32, 1, now)
    assert one.verify("0" * 32, etag, now) is not None
    assert other.verify("0" * 32, etag, now) is None
    assert one.verify("1" * 32, etag, now) is None


def test_without_a_key_there_are_no_grants(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    signer = GrantSigner(ServerKey(None, not_a_directory), 3600)
    assert signer.etag("0" * 32, 1, utcnow()) is None


def test_the_window_is_configured_and_bounded():
    assert Config.from_env({}).resume_window == 3600
    assert Config.from_env({"DROP_RESUME_WINDOW": "0"}).resume_window == 0
    with pytest.raises(ConfigError, match="DROP_RESUME_WINDOW"):
        Config.from_env({"DROP_RESUME_WINDOW": str(DAY + 1)})
    with pytest.raises(ConfigError, match="DROP_RESUME_WINDOW"):
        Config.from_env({"DROP_RESUME_WINDOW": "-1"})


@pytest.fixture
def statements(monkeypatch):
    """Every SQL statement the app sends from here on (the real database runs them)."""
    sent: list[str] = []
    real = db.obj.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        sent.append(" ".join(sql.split()))
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(db.obj, "execute_sql", spy)
    return sent


@pytest.mark.parametrize("headers", [{}, {"Range": "bytes=5-"}], ids=["plain", "range"])
def test_a_download_without_if_range_is_still_the_claim_alone(client, backend, statements, headers):
    token = upload(client, CONTENT).json["token"]
    statements.clear()
    answer = start(client, path(token), headers=headers)
    assert answer.status == 200
    # Up to the answer, the claim with its download event (and its grant), nothing more:
    # no row read first, no grant looked up. What follows the body is after the answer.
    if backend == "postgres":
        # One statement, prepared once per connection (a PREPARE the first time it is used).
        claims = [sql for sql in statements if not sql.startswith("PREPARE drop_claim_")]
        assert len(claims) == 1 and claims[0].startswith("EXECUTE drop_claim_"), statements
    else:  # the UPDATE and the INSERTs, in a transaction shared with other threads' writes
        assert [sql.split()[0] for sql in statements if sql.startswith(("UPDATE", "INSERT"))] == [
            "UPDATE",
            "INSERT",
            "INSERT",
        ], statements
        assert not [sql for sql in statements if sql.startswith("SELECT")], statements
    answer.close()
