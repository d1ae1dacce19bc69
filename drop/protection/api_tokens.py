"""API tokens: the secrets that make an uploader trusted, and the limits each one lifts.

A secret is `drop_` and 40 random base62 characters (238 bits). The prefix makes a leaked
one easy to recognise, for people and for secret scanners (`drop_[0-9A-Za-z]{40}`).

Only the secret's sha256 is stored. A slow KDF (scrypt, as drop uses for passwords) makes
each guess of a *low-entropy* secret costly for someone holding a copy of the database;
a secret of 238 random bits needs no such help: at a trillion sha256 a second, finding
one takes about 10^59 years, and a salt buys nothing because no two secrets share a
hash and no table over that space can exist. A fast, unsalted hash is what lets an upload
find its token by one index lookup instead of running a KDF against every row. The hash
found is compared again in constant time, so no timing tells how much of it matched.

No process keeps a token in memory between requests: each authenticated upload reads its
row, so a revocation holds on every web worker and every machine from the moment it
commits.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

import peewee

from drop.db.group_commit import durable_write
from drop.db.models import db

SECRET_PREFIX = "drop_"
SECRET_ALPHABET = string.digits + string.ascii_letters
SECRET_CHARS = 40
SECRET_SHAPE = re.compile(rf"{SECRET_PREFIX}[0-9A-Za-z]{{{SECRET_CHARS}}}")
# What `token list` shows of a secret, enough to tell which one a person holds.
SHOWN_PREFIX_CHARS = len(SECRET_PREFIX) + 6
MAX_NAME_CHARS = 64
NAME_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# "last used" is written at most once a minute per token: an upload burst costs no writes.
LAST_USED_PRECISION = datetime.timedelta(minutes=1)


class ApiToken(peewee.Model):
    """A trusted uploader's token (migration 0014). None in a limit: the instance's own."""

    id = peewee.AutoField()
    name = peewee.CharField(max_length=MAX_NAME_CHARS)
    prefix = peewee.CharField(max_length=16)  # the secret's first characters, for people
    secret_hash = peewee.FixedCharField(max_length=64, unique=True)
    max_upload_bytes = peewee.BigIntegerField(null=True)
    max_expires_in = peewee.IntegerField(null=True)
    uploads_per_hour = peewee.IntegerField(null=True)  # None: no hourly limit at all
    created_at = peewee.DateTimeField()
    last_used_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)

    class Meta:
        database = db
        table_name = "api_token"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "max_upload_bytes": self.max_upload_bytes,
            "max_expires_in": self.max_expires_in,
            "uploads_per_hour": self.uploads_per_hour,
            "created_at": _iso(self.created_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
        }


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its secret: the only time the secret exists outside its holder."""

    token: ApiToken
    secret: str


class NameTaken(ValueError):
    """A token that is not revoked already has this name."""


def new_secret() -> str:
    return SECRET_PREFIX + "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_CHARS))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def issue(
    name: str,
    *,
    now: datetime.datetime,
    max_upload_bytes: int | None = None,
    max_expires_in: int | None = None,
    uploads_per_hour: int | None = None,
) -> IssuedToken:
    """Create a token named `name`; raises NameTaken while a live token has that name."""
    secret = new_secret()
    try:
        with db.atomic():
            token = ApiToken.create(
                name=name,
                prefix=secret[:SHOWN_PREFIX_CHARS],
                secret_hash=hash_secret(secret),
                max_upload_bytes=max_upload_bytes,
                max_expires_in=max_expires_in,
                uploads_per_hour=uploads_per_hour,
                created_at=now,
            )
    except peewee.IntegrityError:
        raise NameTaken(f"a token named {name!r} exists; revoke it first") from None
    return IssuedToken(token, secret)


def find_live(secret: str) -> ApiToken | None:
    """The token whose secret this is, unless it is revoked; None for anything else.

    One indexed read. Anything not shaped like a secret is refused before it.
    """
    if not SECRET_SHAPE.fullmatch(secret):
        return None
    digest = hash_secret(secret)
    token = ApiToken.get_or_none((ApiToken.secret_hash == digest) & ApiToken.revoked_at.is_null())
    if token is None or not hmac.compare_digest(token.secret_hash, digest):
        return None
    return token


def mark_used(token: ApiToken, now: datetime.datetime) -> None:
    """Remember when the token was last presented, to the minute."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
        return
    query = ApiToken.update(last_used_at=now).where(
        (ApiToken.id == token.id)
        & (ApiToken.last_used_at.is_null() | (ApiToken.last_used_at < now))
    )
    durable_write(query.execute)


def all_tokens() -> list[ApiToken]:
    """Every token, live ones first, newest first within each."""
    return list(
        ApiToken.select().order_by(
            ApiToken.revoked_at.is_null(False), ApiToken.created_at.desc(), ApiToken.id.desc()
        )
    )


def find(name_or_id: str) -> ApiToken | None:
    """The live token of that name, else the token of that id (a number), else None."""
    token = ApiToken.get_or_none((ApiToken.name == name_or_id) & ApiToken.revoked_at.is_null())
    if token is None and name_or_id.isascii() and name_or_id.isdigit() and len(name_or_id) < 10:
        token = ApiToken.get_or_none(ApiToken.id == int(name_or_id))
    return token


def revoke(token: ApiToken, now: datetime.datetime) -> bool:
    """Revoke the token from this moment on; False if it already was."""
    with db.atomic():
        changed = (
            ApiToken.update(revoked_at=now)
            .where((ApiToken.id == token.id) & ApiToken.revoked_at.is_null())
            .execute()
        )
    return changed == 1


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None
