"""Which downloads of a drop may still need its bytes, and how much their resumes have sent.

A `resume_grant` row (migration 0017) is written by the claim of each download that
carries a resume ETag (drop.drops.claim_download) and deleted once that download, or a
resume of it, has sent the file's last byte. So "gone means gone": a drop with no
downloads left loses its blob the moment no row names it (`blob_needed`), and keeps it
only for a download that was cut, within DROP_RESUME_WINDOW. A resume reserves the bytes
it will send before it sends them (`reserve`) and gives back what it did not send:
however many resumes of one grant run at once, together they never send more than the
file holds.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from drop.db.database import is_pooled
from drop.db.models import DOWNLOADED, LIVE, db

log = logging.getLogger(__name__)


def reserve(token: str, number: int, length: int, size: int) -> bool:
    """Count `length` more bytes against grant `number` of drop `token`; False when the
    grant is closed (its download completed, or it is unknown) or its resumes would then
    have sent more than the file's `size`. One conditional UPDATE: concurrent resumes
    cannot both pass."""
    p = db.param
    sql = f"""UPDATE "resume_grant" SET "resumed" = "resumed" + {p}
        WHERE "token" = {p} AND "number" = {p} AND "resumed" + {p} <= {p}"""
    with db.atomic():
        return db.execute_sql(sql, (length, token, number, length, size)).rowcount == 1


def give_back(token: str, number: int, unsent: int) -> None:
    """A cut resume did not send `unsent` of the bytes it reserved: they may be asked again."""
    if unsent <= 0:
        return
    p = db.param
    sql = f"""UPDATE "resume_grant" SET "resumed" = "resumed" - {p}
        WHERE "token" = {p} AND "number" = {p}"""
    with db.atomic():
        db.execute_sql(sql, (unsent, token, number))


def close(token: str, number: int) -> None:
    """Grant `number` of drop `token` has delivered the whole file: it needs nothing more."""
    p = db.param
    with db.atomic():
        db.execute_sql(
            f'DELETE FROM "resume_grant" WHERE "token" = {p} AND "number" = {p}', (token, number)
        )


def blob_needed(token: str) -> bool:
    """Whether drop `token` still needs its blob: it has downloads left, or a download of it
    may still be resumed. A drop gone for another reason (deleted, revoked, expired) needs
    it for neither."""
    p = db.param
    row = db.execute_sql(
        f"""SELECT 1 FROM "drop" WHERE "token" = {p} AND "status" = {p}
            UNION ALL SELECT 1 FROM "resume_grant" g JOIN "drop" d ON d."token" = g."token"
                WHERE g."token" = {p} AND d."status" = {p}
            LIMIT 1""",
        (token, LIVE, token, DOWNLOADED),
    ).fetchone()
    return row is not None


def forget(token: str) -> None:
    """The drop's blob is gone: none of its downloads can be resumed."""
    with db.atomic():
        db.execute_sql(f'DELETE FROM "resume_grant" WHERE "token" = {db.param}', (token,))


def forget_expired(before: datetime.datetime, batch_size: int = 1000) -> int:
    """Delete the rows of grants made before `before` (their window has closed), a bounded
    batch at a time through the granted_at index; return how many."""
    p = db.param
    forgotten = 0
    while True:
        with db.atomic():
            count = db.execute_sql(
                f"""DELETE FROM "resume_grant" WHERE ("token", "number") IN (
                    SELECT "token", "number" FROM "resume_grant" WHERE "granted_at" < {p}
                    ORDER BY "granted_at" LIMIT {p})""",
                (before, batch_size),
            ).rowcount
        forgotten += count
        if count < batch_size:
            return forgotten


def after_response(work: Callable[[], None], what: str) -> None:
    """Run `work` (database writes) once a response has been sent, on its own connection.

    The request's connection went back to the pool when the response started
    (drop.middleware), so this takes one and gives it back. A failure is only a warning:
    the answer has been sent, and the sweep deletes what this would have, after the window.
    """
    try:
        work()
    # Whatever broke (the database down, its pool empty), the window and the sweep are the
    # same safe way out; the warning says what broke.
    except Exception as error:
        log.warning("%s left to the sweep (%s: %s)", what, type(error).__name__, error)
    finally:
        if is_pooled(db.obj) and not db.is_closed():
            db.close()
