"""Create `resume_grant`: the downloads of a drop that may still need its bytes.

A row is written with the claim of every download that carries a resume ETag
(drop/grants.py) and deleted once that download, or a resume of it, has sent the file's
last byte (drop/drops/resume_grants.py). So a drop used up by its downloads loses its blob as
soon as no row names it, and keeps it, within DROP_RESUME_WINDOW, only for a download that
was cut. `resumed` counts the bytes its resumes have sent or are sending: over all of
them, never more than the file holds. Plain SQL: SQLite and PostgreSQL alike.
"""


def apply(database):
    database.execute_sql(
        'CREATE TABLE "resume_grant" ('
        '"token" VARCHAR(32) NOT NULL, '
        '"number" INTEGER NOT NULL, '
        '"granted_at" TIMESTAMP NOT NULL, '
        '"resumed" BIGINT NOT NULL DEFAULT 0, '
        'PRIMARY KEY ("token", "number"))'
    )
    database.execute_sql('CREATE INDEX "resume_grant_granted_at" ON "resume_grant" ("granted_at")')
