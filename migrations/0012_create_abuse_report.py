"""Create `abuse_report`: what a visitor reported about a drop, and what the operator did.

The drop is named by its id (no foreign key: a purge removes drop rows, the report stays
as the record of what was reported). Nothing about the reporter is kept but the contact
they chose to give. The model is frozen here as it was at this migration.
"""

import peewee


class AbuseReport(peewee.Model):
    drop_id = peewee.IntegerField(index=True)
    reason = peewee.CharField(max_length=32)
    details = peewee.TextField()
    contact = peewee.CharField(max_length=254, null=True)
    created_at = peewee.DateTimeField()
    status = peewee.CharField(max_length=16)
    resolution = peewee.CharField(max_length=32, null=True)
    resolved_at = peewee.DateTimeField(null=True)
    resolved_by = peewee.CharField(max_length=32, null=True)

    class Meta:
        table_name = "abuse_report"
        indexes = ((("status", "created_at"), False),)


def apply(database):
    with database.bind_ctx([AbuseReport]):
        database.create_tables([AbuseReport])
