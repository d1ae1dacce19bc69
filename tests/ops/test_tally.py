"""The drop tally (migration 0010): the statistics' counts and bytes, kept by triggers,
always equal to what counting the table would give."""

import datetime
import shutil

import peewee

from drop.clock import utcnow
from drop.db import migrations
from drop.db.models import Drop, HourlyTally, init_database
from drop.drops import lifecycle as drops
from drop.drops import tallies
from drop.ops import purge
from drop.ops.stats import tally
from drop.storage.local import LocalStorage
from tests.support.common import upload

HOUR = datetime.timedelta(hours=1)


def counted() -> list[tuple[str, bool, int, int]]:
    """The tally's figures the slow way: a scan of the whole table."""
    query = Drop.select(
        Drop.status,
        Drop.blob_deleted_at.is_null(),
        peewee.fn.COUNT(Drop.id),
        peewee.fn.SUM(Drop.size),
    ).group_by(Drop.status, Drop.blob_deleted_at.is_null())
    return sorted((s, bool(h), int(n), int(b)) for s, h, n, b in query.tuples())


def test_the_tally_matches_the_table_through_a_drops_life(client, config, clock):
    kept = upload(client, b"kept" * 10).json
    downloaded = upload(client, b"once").json
    deleted = upload(client, b"deleted!").json
    upload(client, b"expiring", expires_in=60)
    two = upload(client, b"twice", max_downloads=2).json
    assert client.simulate_get(f"/api/v1.0/file/{downloaded['token']}").status_code == 200
    assert client.simulate_get(f"/api/v1.0/file/{two['token']}").status_code == 200
    response = client.simulate_delete(
        f"/api/v1.0/file/{deleted['token']}", headers={"X-Delete-Token": deleted["delete_token"]}
    )
    assert response.status_code == 204
    assert sorted(tally()) == counted()
    clock.advance(61)
    drops.sweep(LocalStorage(config.data_dir), clock())
    assert sorted(tally()) == counted()
    where = purge.purgeable(clock(), older_than=datetime.timedelta(0))
    assert purge.purge_drops(LocalStorage(config.data_dir), where).drops == 3
    assert sorted(tally()) == counted()
    assert {row.token for row in Drop.select()} == {kept["token"], two["token"]}


def test_the_migration_tallies_the_drops_already_there(config, tmp_path):
    """Up to just before 0010, some drops, then the rest: the tally starts from them."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for path in migrations.available():
        if path.stem < "0010":
            shutil.copy(path, earlier / path.name)
    url = config.database_url or f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    database = init_database(url)
    with database:
        if config.database_url:
            database.execute_sql("DROP SCHEMA public CASCADE")
            database.execute_sql("CREATE SCHEMA public")
        migrations.migrate(database, earlier)
        now = utcnow()
        for n, status in enumerate(["live", "live", "expired"]):
            # Only the columns that exist before 0010.
            Drop.insert(
                token=f"{n:032x}",
                filename="old.txt",
                content_type="text/plain",
                size=10 * (n + 1),
                sha256="0" * 64,
                delete_token_hash="0" * 64,
                created_at=now - HOUR,
                expires_at=now + HOUR,
                status=status,
                gone_at=now if status != "live" else None,
            ).execute()
        migrations.migrate(database)
        assert sorted(tally()) == [("expired", True, 1, 30), ("live", True, 2, 30)]
        # The expired drop's blob was never marked deleted: the sweep works it off.
        assert drops.delete_gone_blobs(LocalStorage(tmp_path), now, now) == (0, 1)
        assert sorted(tally()) == [("expired", False, 1, 30), ("live", True, 2, 30)]


def test_upload_windows_are_exact_at_their_edges_and_survive_folding(app, config):
    from tests.support.ops import plant_drop

    minutes = [59, 61, 23 * 60 + 59, 25 * 60, 7 * 24 * 60 - 1, 7 * 24 * 60 + 1, 9 * 24 * 60]
    for age in minutes:
        plant_drop(config, b"x", age=datetime.timedelta(minutes=age))
    now = utcnow()
    expected = {"hour": 1, "day": 3, "week": 5}
    assert collect_windows(now) == expected
    tallies.fold_tally(now)
    assert collect_windows(now) == expected
    # Hours older than a week and an hour are gone from the tally; nothing else is.
    oldest = now - tallies.HOURS_KEPT
    assert not HourlyTally.select().where(HourlyTally.hour < oldest - HOUR).exists()
    assert HourlyTally.select(peewee.fn.SUM(HourlyTally.count)).scalar() >= 5


def collect_windows(now):
    from drop.ops.stats import collect_stats
    from drop.runtime.heartbeat import WorkerHealth

    return collect_stats(now, queue_length=0, worker=WorkerHealth(None, None, False)).uploads
