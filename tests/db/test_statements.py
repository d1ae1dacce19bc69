"""Hand-written statements of the hot paths (drop/db/statements.py): prepared on PostgreSQL."""

import pytest

from drop.db.models import db
from drop.drops import lifecycle as drops
from drop.protection import blocks
from tests.support.common import upload

pytestmark = pytest.mark.parametrize("backend", ["postgres"])  # SQLite prepares nothing


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """The first word of every statement sent from now on."""
    words = []
    real = db.obj.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        words.append(sql.split()[0])
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(db.obj, "execute_sql", spy)
    return words


def test_an_uploads_checks_and_row_are_prepared_statements(client, sent):
    assert upload(client).status_code == 201
    sent.clear()
    assert upload(client).status_code == 201
    # The address block, then the INSERT that checks the content block: planned once
    # per connection, and the content check costs no round trip of its own.
    assert sent == ["EXECUTE", "EXECUTE"]


def test_a_404_reads_the_row_with_a_prepared_statement(client, sent):
    for letter in "ab":
        sent.clear()
        assert client.simulate_get("/api/v1.0/file/" + letter * 32).status_code == 404
    assert sent == ["EXECUTE"]


def test_a_prepared_read_still_works_after_a_migration_adds_a_column(client):
    token = upload(client).json["token"]
    assert drops.find_drop(token).token == token
    assert blocks.content_block("0" * 64) is None
    db.execute_sql('ALTER TABLE "drop" ADD COLUMN "added_later" INTEGER')
    db.execute_sql('ALTER TABLE "block" ADD COLUMN "added_later" INTEGER')
    # The statements name their columns: a `SELECT *` prepared before would now fail.
    assert drops.find_drop(token).token == token
    assert blocks.content_block("0" * 64) is None
