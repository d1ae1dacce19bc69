"""Create `download_event`: one row per granted download, for the operator's statistics.

The `drop` table only knows how many downloads a drop has had, not when; `drop-ops stats`
and the dashboard count downloads in the last hour, day and week from these rows.
The model is frozen here as it was at this migration.
"""

import peewee


class DownloadEvent(peewee.Model):
    downloaded_at = peewee.DateTimeField(index=True)

    class Meta:
        table_name = "download_event"


def apply(database):
    with database.bind_ctx([DownloadEvent]):
        database.create_tables([DownloadEvent])
