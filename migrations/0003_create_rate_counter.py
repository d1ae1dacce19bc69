"""Create `rate_counter`: the limits on guessing and uploads when Redis is not configured.

Every gunicorn worker shares these rows (drop/limits.py updates each with one atomic
upsert). Times are epoch milliseconds; a row whose `expires_at` has passed counts as
absent and is deleted by the worker's cleanup. The model is frozen here as it was at
this migration.
"""

import peewee


class RateCounter(peewee.Model):
    name = peewee.CharField(max_length=255, primary_key=True)
    hits = peewee.BigIntegerField()
    locked_until = peewee.BigIntegerField()
    expires_at = peewee.BigIntegerField(index=True)
    grant_id = peewee.BigIntegerField()

    class Meta:
        table_name = "rate_counter"


def apply(database):
    with database.bind_ctx([RateCounter]):
        database.create_tables([RateCounter])
