"""Create `tus_upload`: resumable uploads in progress (drop/tus.py), one row each.

The state lives here rather than in a web process, so any worker on any machine can take
an upload's next PATCH: how far it has got (`upload_offset` of `upload_length`), where its
bytes are (`storage_key`), the drop it will become (name, type, the password's hash, the
drop's expiry and downloads), until when it may be resumed (`expires_at`), which request
is writing to it now (`lease_owner` until `lease_until`), and the API token it was
admitted with (`api_token_id`, none when anonymous: its completion counts to that token's
quota). Once complete, it names its drop and keeps the drop's delete token, so the
uploader can ask for the links again until the row expires. The model is frozen here as
it was at this migration.
"""

import peewee


class TusUpload(peewee.Model):
    id = peewee.FixedCharField(max_length=32, primary_key=True)
    upload_length = peewee.BigIntegerField()
    upload_offset = peewee.BigIntegerField()
    metadata = peewee.TextField()
    filename = peewee.TextField()
    content_type = peewee.CharField(max_length=255)
    password_hash = peewee.TextField(null=True)
    expires_in = peewee.IntegerField()
    max_downloads = peewee.IntegerField()
    storage_key = peewee.TextField()
    status = peewee.CharField(max_length=16)
    created_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField(index=True)
    lease_owner = peewee.FixedCharField(max_length=32, null=True)
    lease_until = peewee.DateTimeField(null=True)
    drop_token = peewee.FixedCharField(max_length=32, null=True)
    delete_token = peewee.FixedCharField(max_length=32, null=True)
    api_token_id = peewee.IntegerField(null=True)

    class Meta:
        table_name = "tus_upload"


def apply(database):
    with database.bind_ctx([TusUpload]):
        database.create_tables([TusUpload])
