"""Who is uploading: anyone (the instance's limits) or a trusted uploader (its token's).

Every upload path asks `UploaderCheck.admit(req)` first, before the body is read: the
answer is the `Uploader`, whose `config` carries the size and expiry limits this upload
is held to and whose `quota` counts its hourly uploads. The multipart API, `curl -T` and
the resumable (tus) uploads pass them on where they passed the app's config and quota,
so Content-Length's pre-check and the byte counter use the token's limit.

A token travels as `Authorization: Bearer drop_…`. A malformed, unknown or revoked one is
a 401 with `WWW-Authenticate: Bearer`, never a fallback to the anonymous limits: a
client that meant to be trusted learns at once that it is not. Other schemes (a proxy's
basic auth in front of drop) carry no token: those uploads are anonymous.

For the resumable (tus) uploads: call `admit` when an upload is created and keep its
`Uploader`'s limits for the upload (Upload-Length against `uploader.config`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import falcon

from drop.config import Config
from drop.protection import api_tokens
from drop.protection.api_tokens import ApiToken
from drop.protection.limits import Counters, UploadQuota

CHALLENGE = 'Bearer realm="drop"'
BAD_TOKEN_CHALLENGE = 'Bearer realm="drop", error="invalid_token"'
TOKEN_ONLY = "this drop takes uploads from API tokens only: send Authorization: Bearer <token>"
BAD_TOKEN = "the API token is not valid (unknown, revoked or malformed)"


@dataclass(frozen=True)
class Uploader:
    """The limits one upload is held to.

    `config` is the app's, with the token's size and expiry limits in place of the
    instance's; `quota` is the address's hourly quota, or the token's own.
    """

    config: Config
    quota: UploadQuota | TokenQuota
    token: ApiToken | None = None


class UploaderCheck:
    """Decides, from a request's headers alone, whether it may upload and within what."""

    def __init__(
        self, config: Config, anonymous_quota: UploadQuota, counters: Counters, clock: Callable
    ):
        self._config = config
        self._anonymous = Uploader(config, anonymous_quota)
        self._counters = counters
        self._clock = clock

    def admit(self, req: falcon.Request) -> Uploader:
        """The request's uploader; 401 for a bad token, or for none on a token-only drop.

        One indexed database read per request with a token, and no cache: a token
        revoked a moment ago is refused by every web worker on every machine.
        """
        secret = bearer_secret(req.get_header("Authorization"))
        if secret is None:
            if not self._config.anonymous_uploads:
                raise unauthorized(TOKEN_ONLY, CHALLENGE)
            return self._anonymous
        token = api_tokens.find_live(secret)
        if token is None:
            raise unauthorized(BAD_TOKEN, BAD_TOKEN_CHALLENGE)
        api_tokens.mark_used(token, self._clock())
        return Uploader(token_config(self._config, token), self._token_quota(token), token)

    def resumed(self, token_id: int | None) -> Uploader:
        """The uploader a resumable (tus) upload was admitted as, for the request that
        completes it: the upload's bytes count to that token, even one revoked since (the
        upload was accepted when it began), or to the client's address when anonymous."""
        token = None if token_id is None else api_tokens.ApiToken.get_or_none(id=token_id)
        if token is None:
            return self._anonymous
        return Uploader(token_config(self._config, token), self._token_quota(token), token)

    def _token_quota(self, token: ApiToken) -> TokenQuota:
        # Counted per token, wherever its uploads come from; no limit on bytes per hour.
        return TokenQuota(
            UploadQuota(
                self._counters,
                token.uploads_per_hour or 0,
                0,
                self._clock,
                subject=f"the API token {token.name!r}",
            ),
            f"token:{token.id}",
        )


class TokenQuota:
    """An UploadQuota counted under the token's key instead of the client's address."""

    def __init__(self, quota: UploadQuota, key: str):
        self._quota = quota
        self._key = key

    def admit(self, client: str) -> None:
        self._quota.admit(self._key)

    def give_back(self, client: str) -> None:
        self._quota.give_back(self._key)

    @property
    def counted_with_rows(self) -> bool:
        return self._quota.counted_with_rows

    def stored(self, client: str, size: int) -> None:
        self._quota.stored(self._key, size)


def token_config(config: Config, token: ApiToken) -> Config:
    """`config` with the token's limits where it sets them."""
    max_expires_in = token.max_expires_in or config.max_expires_in
    return dataclasses.replace(
        config,
        max_upload_bytes=token.max_upload_bytes or config.max_upload_bytes,
        max_expires_in=max_expires_in,
        default_expires_in=min(config.default_expires_in, max_expires_in),
    )


def bearer_secret(header: str | None) -> str | None:
    """The token in `Authorization: Bearer <token>`, or None when no token was sent.

    Another scheme is not drop's to judge: a proxy's own login in front of drop (nginx's
    basic auth) makes browsers send `Authorization: Basic …` with every request. A
    token sent without its scheme, or the scheme without a token, is a 401 that says how.
    """
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if scheme.lower() == "bearer" or scheme.startswith(api_tokens.SECRET_PREFIX):
        raise unauthorized("send the API token as Authorization: Bearer <token>", CHALLENGE)
    return None


def unauthorized(description: str, challenge: str) -> falcon.HTTPUnauthorized:
    return falcon.HTTPUnauthorized(
        title="Unauthorized", description=description, challenges=[challenge]
    )
