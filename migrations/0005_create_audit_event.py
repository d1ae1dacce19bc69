"""Create `audit_event`: what operators did, when, from where, as whom (drop/ops/audit.py).

Never a secret: the actor is a short hash of a dashboard session's id (or `cli`), a
drop is named by its id and the first characters of its token. Rows older than
DROP_AUDIT_RETENTION are trimmed. The model is frozen here as it was at this migration.
"""

import peewee


class AuditEvent(peewee.Model):
    id = peewee.BigAutoField()
    occurred_at = peewee.DateTimeField(index=True)
    actor = peewee.CharField(max_length=32)
    address = peewee.CharField(max_length=64, null=True)
    action = peewee.CharField(max_length=32)
    target = peewee.TextField(null=True)
    detail = peewee.TextField(null=True)

    class Meta:
        table_name = "audit_event"


def apply(database):
    with database.bind_ctx([AuditEvent]):
        database.create_tables([AuditEvent])
