"""Create `multipart_upload`: the S3 multipart uploads in flight (drop/storage/s3.py).

A row lives from CreateMultipartUpload to Complete or Abort. A node killed mid-upload
leaves its row behind; a reconciliation on any node aborts the upload once its row has
not been touched for long. The model is frozen here as it was at this migration.
"""

import peewee


class MultipartUpload(peewee.Model):
    upload_id = peewee.TextField(unique=True)
    key = peewee.TextField()
    started_at = peewee.DateTimeField()
    touched_at = peewee.DateTimeField()

    class Meta:
        table_name = "multipart_upload"


def apply(database):
    with database.bind_ctx([MultipartUpload]):
        database.create_tables([MultipartUpload])
