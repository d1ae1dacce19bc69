"""Create `ops_session`: the live dashboard sessions, so logging out can end one for good.

Used in the embedded mode (Redis holds them when configured). Only a hash of each
session id is stored. The model is frozen here as it was at this migration.
"""

import peewee


class OpsSession(peewee.Model):
    id_hash = peewee.FixedCharField(max_length=64, primary_key=True)
    expires_at = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "ops_session"


def apply(database):
    with database.bind_ctx([OpsSession]):
        database.create_tables([OpsSession])
