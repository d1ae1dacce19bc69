"""Create `hourly_stat`: per hour, how many uploads, downloads, bytes, 4xx and blocked answers.

One row per (hour, metric): every web process adds its counts with an upsert every few
seconds (drop/hourly_counts.py), and the worker deletes rows older than 8 days. The
dashboard's charts read a week of it by its primary key, never the drops or the events.
Plain SQL: SQLite (3.24+) and PostgreSQL both take this table and its upsert.
"""


def apply(database):
    database.execute_sql(
        'CREATE TABLE "hourly_stat" ('
        '"hour" TIMESTAMP NOT NULL, '
        '"metric" VARCHAR(16) NOT NULL, '
        '"value" BIGINT NOT NULL, '
        'PRIMARY KEY ("hour", "metric"))'
    )
