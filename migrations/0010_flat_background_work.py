"""Background work that does not grow with the store: a blob-deleted mark, indexes, a tally.

- `blob_deleted_at`: when the drop's blob was deleted (NULL while storage holds it). The
  per-minute sweep finds the gone drops whose blob is still held through a partial index
  that holds only those rows, so it never lists storage and its work is what changed.
  Rows from before this migration start NULL: the sweep works them off in batches.
- `drop_created_at`: the statistics' upload windows count an index range.
- `drop_live_size`, `drop_live_created_at`: the largest and oldest live drops are the
  first entries of a partial index, not a sort of every live row.
- `drop_tally`: drops and bytes per (status, blob held), kept by triggers on `drop` as
  rows of changes that the sweep folds together; statistics sum a handful of rows instead
  of counting the table. PostgreSQL's triggers run once per statement (a sweep batch of
  1,000 rows adds at most a few tally rows); SQLite has only row triggers.
- `hourly_tally`: uploads and downloads per hour, kept the same way by insert triggers on
  `drop` and `download_event`: the statistics' windows (an hour, a day, a week) sum at
  most 169 hours and count rows through an index for the part of an hour at each end.
"""

TALLY_COLUMNS = '"status", "holds_blob", "drops", "bytes"'

POSTGRES_TRIGGERS = [
    """CREATE FUNCTION drop_tally_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO "drop_tally" ("status", "holds_blob", "drops", "bytes")
        SELECT "status", "blob_deleted_at" IS NULL, COUNT(*), SUM("size")
        FROM added GROUP BY 1, 2;
        INSERT INTO "hourly_tally" ("kind", "hour", "count")
        SELECT 'upload', date_trunc('hour', "created_at"), COUNT(*) FROM added GROUP BY 2;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION download_tally_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO "hourly_tally" ("kind", "hour", "count")
        SELECT 'download', date_trunc('hour', "downloaded_at"), COUNT(*) FROM added GROUP BY 2;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER "download_tally_insert" AFTER INSERT ON "download_event"
        REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION download_tally_added()""",
    """CREATE FUNCTION drop_tally_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO "drop_tally" ("status", "holds_blob", "drops", "bytes")
        SELECT "status", "holds_blob", SUM("drops"), SUM("bytes") FROM (
            SELECT "status", "blob_deleted_at" IS NULL AS "holds_blob", 1 AS "drops",
                "size" AS "bytes" FROM after_change
            UNION ALL
            SELECT "status", "blob_deleted_at" IS NULL, -1, -"size" FROM before_change
        ) AS change
        GROUP BY 1, 2 HAVING SUM("drops") <> 0 OR SUM("bytes") <> 0;
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION drop_tally_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO "drop_tally" ("status", "holds_blob", "drops", "bytes")
        SELECT "status", "blob_deleted_at" IS NULL, -COUNT(*), -SUM("size")
        FROM removed GROUP BY 1, 2;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER "drop_tally_insert" AFTER INSERT ON "drop"
        REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION drop_tally_added()""",
    """CREATE TRIGGER "drop_tally_update" AFTER UPDATE ON "drop"
        REFERENCING OLD TABLE AS before_change NEW TABLE AS after_change
        FOR EACH STATEMENT EXECUTE FUNCTION drop_tally_changed()""",
    """CREATE TRIGGER "drop_tally_delete" AFTER DELETE ON "drop"
        REFERENCING OLD TABLE AS removed
        FOR EACH STATEMENT EXECUTE FUNCTION drop_tally_removed()""",
]

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER "drop_tally_insert" AFTER INSERT ON "drop" BEGIN
        INSERT INTO "drop_tally" ({TALLY_COLUMNS})
        VALUES (NEW."status", NEW."blob_deleted_at" IS NULL, 1, NEW."size");
        INSERT INTO "hourly_tally" ("kind", "hour", "count")
        VALUES ('upload', strftime('%Y-%m-%d %H:00:00', NEW."created_at"), 1);
    END""",
    """CREATE TRIGGER "download_tally_insert" AFTER INSERT ON "download_event" BEGIN
        INSERT INTO "hourly_tally" ("kind", "hour", "count")
        VALUES ('download', strftime('%Y-%m-%d %H:00:00', NEW."downloaded_at"), 1);
    END""",
    # Only changes that move a row between tally entries: a download that leaves the
    # drop live adds nothing.
    f"""CREATE TRIGGER "drop_tally_update" AFTER UPDATE OF "status", "blob_deleted_at", "size"
        ON "drop"
        WHEN OLD."status" IS NOT NEW."status"
            OR (OLD."blob_deleted_at" IS NULL) IS NOT (NEW."blob_deleted_at" IS NULL)
            OR OLD."size" IS NOT NEW."size"
    BEGIN
        INSERT INTO "drop_tally" ({TALLY_COLUMNS})
        VALUES (OLD."status", OLD."blob_deleted_at" IS NULL, -1, -OLD."size");
        INSERT INTO "drop_tally" ({TALLY_COLUMNS})
        VALUES (NEW."status", NEW."blob_deleted_at" IS NULL, 1, NEW."size");
    END""",
    f"""CREATE TRIGGER "drop_tally_delete" AFTER DELETE ON "drop" BEGIN
        INSERT INTO "drop_tally" ({TALLY_COLUMNS})
        VALUES (OLD."status", OLD."blob_deleted_at" IS NULL, -1, -OLD."size");
    END""",
]


def apply(database):
    postgres = not _is_sqlite(database)
    timestamp = "TIMESTAMP" if postgres else "DATETIME"
    database.execute_sql(f'ALTER TABLE "drop" ADD COLUMN "blob_deleted_at" {timestamp}')
    database.execute_sql(
        'CREATE INDEX "drop_blob_held_gone_at" ON "drop" ("gone_at") '
        'WHERE "blob_deleted_at" IS NULL AND "gone_at" IS NOT NULL'
    )
    database.execute_sql('CREATE INDEX "drop_created_at" ON "drop" ("created_at")')
    database.execute_sql(
        'CREATE INDEX "drop_live_size" ON "drop" ("size" DESC, "id") WHERE "status" = \'live\''
    )
    database.execute_sql(
        'CREATE INDEX "drop_live_created_at" ON "drop" ("created_at", "id") '
        "WHERE \"status\" = 'live'"
    )
    key = "SERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
    database.execute_sql(
        f"""CREATE TABLE "drop_tally" ("id" {key}, "status" VARCHAR(16) NOT NULL,
            "holds_blob" BOOLEAN NOT NULL, "drops" BIGINT NOT NULL, "bytes" BIGINT NOT NULL)"""
    )
    database.execute_sql(
        f'INSERT INTO "drop_tally" ({TALLY_COLUMNS}) '
        'SELECT "status", "blob_deleted_at" IS NULL, COUNT(*), COALESCE(SUM("size"), 0) '
        'FROM "drop" GROUP BY 1, 2'
    )
    database.execute_sql(
        f"""CREATE TABLE "hourly_tally" ("id" {key}, "kind" VARCHAR(16) NOT NULL,
            "hour" {timestamp} NOT NULL, "count" BIGINT NOT NULL)"""
    )
    database.execute_sql('CREATE INDEX "hourly_tally_kind_hour" ON "hourly_tally" ("kind", "hour")')
    hour = "date_trunc('hour', {})" if postgres else "strftime('%Y-%m-%d %H:00:00', {})"
    since = (
        "(now() AT TIME ZONE 'utc') - interval '8 days'"
        if postgres
        else "strftime('%Y-%m-%d %H:%M:%S', 'now', '-8 days')"
    )
    for kind, table, column in (
        ("upload", "drop", "created_at"),
        ("download", "download_event", "downloaded_at"),
    ):
        bucket = hour.format(f'"{column}"')
        database.execute_sql(
            f'INSERT INTO "hourly_tally" ("kind", "hour", "count") '
            f"SELECT '{kind}', {bucket}, COUNT(*) FROM \"{table}\" "
            f'WHERE "{column}" > {since} GROUP BY 2'
        )
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        database.execute_sql(statement)


def _is_sqlite(database) -> bool:
    import peewee

    return isinstance(getattr(database, "obj", database), peewee.SqliteDatabase)
