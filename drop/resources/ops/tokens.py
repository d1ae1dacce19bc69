"""The dashboard's API tokens page: every trusted uploader's token, and revoking one."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import falcon

from drop.config import Config
from drop.ops import tokens as token_ops
from drop.protection import api_tokens, audit
from drop.protection.api_tokens import ApiToken
from drop.protection.clients import client_address
from drop.web.templates import Templates


class OpsTokensPage:
    """GET /ops/tokens: the tokens, live ones first, with their limits and last use.

    Tokens are created with `drop-ops token create` only: its secret is printed once, to
    a terminal, never into a page a browser may cache or a screenshot may catch.
    """

    ops_protected = True

    def __init__(self, templates: Templates, config: Config):
        self._templates = templates
        self._config = config

    def on_get(self, req, resp):
        self._templates.respond(
            resp,
            "ops/tokens.html",
            csrf=req.context.ops_session.csrf,
            tokens=api_tokens.all_tokens(),
            config=self._config,
        )


class OpsTokenRevoke:
    """POST /ops/tokens/{token_id}/revoke: the token's next upload, on every server, is 401."""

    ops_protected = True

    def __init__(
        self,
        templates: Templates,
        config: Config,
        clock: Callable[[], datetime.datetime],
    ):
        self._templates = templates
        self._config = config
        self._clock = clock

    def on_post(self, req, resp, token_id: int):
        token = ApiToken.get_or_none(ApiToken.id == token_id)
        if token is None:
            raise falcon.HTTPNotFound()
        token_ops.revoke_token(
            token,
            now=self._clock(),
            actor=audit.session_actor(req.context.ops_session.session_id),
            address=client_address(req, self._config.trusted_proxies),
        )
        self._templates.respond(
            resp, "ops/_token_row.html", token=ApiToken.get_by_id(token.id), config=self._config
        )
