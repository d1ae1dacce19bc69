"""Add who uploaded each drop: the client's address and User-Agent, both nullable.

They are kept for DROP_UPLOADER_RETENTION only; the sweep then sets them to NULL in
batches (drops.erase_uploaders). The partial index holds just the rows that still carry
them, so each batch finds its rows without walking the table's erased history. Plain
SQL: both SQLite and PostgreSQL add a nullable column and a partial index this way.
"""


def apply(database):
    database.execute_sql('ALTER TABLE "drop" ADD COLUMN "uploader_address" VARCHAR(64)')
    database.execute_sql('ALTER TABLE "drop" ADD COLUMN "uploader_agent" VARCHAR(512)')
    database.execute_sql(
        'CREATE INDEX "drop_uploader_created_at" ON "drop" ("created_at") '
        'WHERE "uploader_address" IS NOT NULL'
    )
