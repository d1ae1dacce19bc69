"""Create `block`: addresses or networks that may not upload, and content (sha256) that may
not be uploaded or served (drop/blocks.py).

An address block keeps its network as the first and last address, each 32 hex digits of
a 128-bit number (IPv4 mapped into ::ffff:0:0/96), so one indexed range comparison finds
a client's block on SQLite and PostgreSQL alike. A content block keeps the sha256 in
`value`; the unique (kind, value) index answers both "is this content blocked" and "is
this block already there". The model is frozen here as it was at this migration.
"""

import peewee


class Block(peewee.Model):
    kind = peewee.CharField(max_length=16)
    value = peewee.CharField(max_length=64)
    range_start = peewee.FixedCharField(max_length=32, null=True)
    range_end = peewee.FixedCharField(max_length=32, null=True)
    reason = peewee.TextField()
    created_at = peewee.DateTimeField()
    created_by = peewee.CharField(max_length=32)

    class Meta:
        table_name = "block"
        indexes = ((("kind", "value"), True), (("kind", "range_start"), False))


def apply(database):
    with database.bind_ctx([Block]):
        database.create_tables([Block])
