"""The tallies the statistics read (migration 0010): rows of changes, folded now and then."""

from __future__ import annotations

import datetime

import peewee

from drop.db.models import db

# The tallies of migration 0010: (table, the columns that key a row, the columns summed).
TALLIES = (
    ("drop_tally", ("status", "holds_blob"), ("drops", "bytes")),
    ("hourly_tally", ("kind", "hour"), ("count",)),
)
# Hours older than the longest statistics window (a week) plus one are not kept.
HOURS_KEPT = datetime.timedelta(days=7, hours=1)


def fold_tally(now: datetime.datetime) -> None:
    """Sum the tallies' rows of changes into one row per key; forget hours nobody counts.

    On PostgreSQL one statement per tally: it deletes the rows its snapshot sees and
    inserts their sums, so changes committed meanwhile stay as they are, to be folded next
    time. A tally with nothing to fold is left alone (a rewrite is a commit to disk).
    """
    oldest = now - HOURS_KEPT
    for table, keys, summed in TALLIES:
        key = ", ".join(f'"{name}"' for name in keys)
        columns = ", ".join(f'"{name}"' for name in (*keys, *summed))
        sums = ", ".join(f'SUM("{name}")' for name in summed)
        nonzero = " OR ".join(f'SUM("{name}") <> 0' for name in summed)
        kept, params = ('"hour" >= ' + db.param, (oldest,)) if "hour" in keys else ("1 = 1", ())
        unfolded = db.execute_sql(
            f'SELECT 1 FROM "{table}" GROUP BY {key} HAVING COUNT(*) > 1 LIMIT 1'
        ).fetchone()
        stale = (
            params
            and db.execute_sql(
                f'SELECT 1 FROM "{table}" WHERE NOT ({kept}) LIMIT 1', params
            ).fetchone()
        )
        if unfolded is None and not stale:
            continue
        if isinstance(db.obj, peewee.SqliteDatabase):
            # SQLite has one writer at a time: nothing changes the tally between these.
            with db.atomic():
                (top,) = db.execute_sql(f'SELECT MAX("id") FROM "{table}"').fetchone()
                db.execute_sql(
                    f"""INSERT INTO "{table}" ({columns}) SELECT {key}, {sums} FROM "{table}"
                        WHERE "id" <= ? AND {kept} GROUP BY {key} HAVING {nonzero}""",
                    (top, *params),
                )
                db.execute_sql(f'DELETE FROM "{table}" WHERE "id" <= ?', (top,))
            continue
        with db.atomic():
            db.execute_sql(
                f"""WITH folded AS (DELETE FROM "{table}" RETURNING {columns})
                    INSERT INTO "{table}" ({columns}) SELECT {key}, {sums} FROM folded
                    WHERE {kept} GROUP BY {key} HAVING {nonzero}""",
                params,
            )
