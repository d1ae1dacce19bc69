"""Create the `drop` table and the indexes the download path and the sweeps use.

The model is frozen here as it was at this migration, so later changes to
drop.models cannot change what this script creates.
"""

import peewee


class Drop(peewee.Model):
    token = peewee.FixedCharField(max_length=32, unique=True)
    filename = peewee.TextField()
    content_type = peewee.CharField(max_length=255)
    size = peewee.BigIntegerField()
    sha256 = peewee.FixedCharField(max_length=64)
    password_hash = peewee.TextField(null=True)
    delete_token_hash = peewee.FixedCharField(max_length=64)
    created_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField()
    max_downloads = peewee.IntegerField(default=1)
    downloads = peewee.IntegerField(default=0)
    status = peewee.CharField(max_length=16, default="live")
    gone_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "drop"
        indexes = ((("status", "expires_at"), False), (("gone_at",), False))


def apply(database):
    with database.bind_ctx([Drop]):
        database.create_tables([Drop])
