"""Create `api_token`: the trusted uploaders' API tokens and the limits each one lifts.

Only the sha256 of each secret is stored (drop/api_tokens.py says why a fast hash is
enough), unique, so an upload finds its token with one index lookup. A name is unique
among the tokens not revoked, so `ci` can be issued again once the old `ci` is revoked.
Plain SQL for the partial index: SQLite and PostgreSQL both write it this way.
The model is frozen here as it was at this migration.
"""

import peewee


class ApiToken(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=64)
    prefix = peewee.CharField(max_length=16)
    secret_hash = peewee.FixedCharField(max_length=64, unique=True)
    max_upload_bytes = peewee.BigIntegerField(null=True)
    max_expires_in = peewee.IntegerField(null=True)
    uploads_per_hour = peewee.IntegerField(null=True)
    created_at = peewee.DateTimeField()
    last_used_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "api_token"


def apply(database):
    with database.bind_ctx([ApiToken]):
        database.create_tables([ApiToken])
    database.execute_sql(
        'CREATE UNIQUE INDEX "api_token_live_name" ON "api_token" ("name") '
        'WHERE "revoked_at" IS NULL'
    )
