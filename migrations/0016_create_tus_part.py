"""Create `tus_part`: the parts a resumable upload on S3 has sent to its multipart upload.

With DROP_STORAGE=s3 each tus upload (`tus_upload`, migration 0007) streams into an S3
multipart upload of its own (drop/storage/s3_partials.py). Every part sent is a row here:
its number, the ETag the store answered and its size, so whichever web node takes the
upload's next PATCH can continue the multipart upload and complete it. The bytes past the
last part wait in a tail object in the bucket. Plain SQL: SQLite and PostgreSQL alike.
"""


def apply(database):
    database.execute_sql(
        'CREATE TABLE "tus_part" ('
        '"tus_upload_id" VARCHAR(32) NOT NULL, '
        '"part_number" INTEGER NOT NULL, '
        '"etag" TEXT NOT NULL, '
        '"size" BIGINT NOT NULL, '
        'PRIMARY KEY ("tus_upload_id", "part_number"))'
    )
