"""Add each drop's malware scan (drop/scans.py): its state, when it was queued and done, and
what clamd found.

`scan_status` is NULL for drops stored while scanning was off, otherwise `pending`,
`clean`, `infected` or `too_large` (larger than DROP_SCAN_MAX_BYTES, never sent to
clamd). The partial index holds only pending rows, so the sweep that queues their scans
again reads just those, however many drops have been scanned. Plain SQL: SQLite and
PostgreSQL both add nullable columns and a partial index this way.
"""


def apply(database):
    database.execute_sql('ALTER TABLE "drop" ADD COLUMN "scan_status" VARCHAR(16)')
    database.execute_sql('ALTER TABLE "drop" ADD COLUMN "scan_queued_at" TIMESTAMP')
    database.execute_sql('ALTER TABLE "drop" ADD COLUMN "scanned_at" TIMESTAMP')
    database.execute_sql('ALTER TABLE "drop" ADD COLUMN "scan_signature" VARCHAR(255)')
    database.execute_sql(
        'CREATE INDEX "drop_scan_pending" ON "drop" ("scan_queued_at") '
        "WHERE \"scan_status\" = 'pending'"
    )
