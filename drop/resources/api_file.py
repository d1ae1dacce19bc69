"""The JSON API: PUT a file, GET it back, DELETE it early."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from drop import crypto
from drop.clock import utcnow
from drop.config import Config
from drop.db.models import DELETED, INFECTED, LIVE, SCAN_PENDING, Drop
from drop.drops import lifecycle as drops
from drop.drops.downloads import (
    LiveTokens,
    download_headers,
    download_sender,
    password_opens,
    refuse_withheld,
    request_password,
)
from drop.drops.grants import GrantSigner
from drop.drops.uploads import Uploading, receive_drop
from drop.protection.clients import client_address
from drop.protection.limits import GuessLimit, TooManyAttempts
from drop.resources.page_home import share_path
from drop.storage import BlobStorage
from drop.web.error_cache import not_final
from drop.web.errors import being_checked, found_malware
from drop.wording import plural

API_PREFIX = "/api/v1.0"
NO_SUCH_FILE = "there is no file with this token; check the link"
PASSWORD_MISSING = (
    "this file needs its password: send it in the X-Drop-Password header (or ?password=)"
)
PASSWORD_WRONG = "the password is wrong"
DELETE_TOKEN_MISSING = "send the X-Delete-Token header: the delete_token the upload answered with"
DELETE_TOKEN_WRONG = "the X-Delete-Token header does not match this file's delete token"


def drop_api_url(base: str, token: str) -> str:
    return f"{base}{API_PREFIX}/file/{token}"


def password_refused(description: str) -> falcon.HTTPUnauthorized:
    """401 for a protected drop without its password, or with a wrong one."""
    return falcon.HTTPUnauthorized(
        title="Unauthorized", description=description, challenges=['Drop-Password realm="drop"']
    )


def upload_answer(new: drops.NewDrop, base: str) -> dict:
    """The JSON of a 201 for a stored upload (the API's, and `curl -T` asking for JSON)."""
    return {
        "status": "File Uploaded Successfully",
        "url": drop_api_url(base, new.drop.token),
        # The page link: safe to paste into a chat, whose link preview uses no download.
        "share_url": base + share_path(new.drop.token),
        "token": new.drop.token,
        "expires_at": new.drop.expires_at.isoformat(timespec="seconds") + "Z",
        "max_downloads": new.drop.max_downloads,
        "delete_token": new.delete_token,
    }


class FileCollection:
    """PUT /api/v1.0/file: store an upload and answer with its link and delete token."""

    def __init__(self, uploading: Uploading):
        self._uploading = uploading

    def on_put(self, req: falcon.Request, resp: falcon.Response):
        # Anonymous, or a trusted uploader with its token's limits: decided before the body.
        uploader = self._uploading.uploaders.admit(req)
        new = receive_drop(
            req,
            uploader.config,
            self._uploading.storage,
            self._uploading.clock(),
            uploader.quota,
            self._uploading.scanning,
        )
        resp.status = falcon.HTTP_201
        resp.media = upload_answer(new, self._uploading.config.base_url or req.prefix)

    on_post = on_put


class FileItem:
    """GET (download), HEAD (inspect without using a download) and DELETE one drop."""

    def __init__(
        self,
        config: Config,
        storage: BlobStorage,
        schedule_blob_deletion: Callable[[str], None],
        clock: Callable = utcnow,
        *,
        guesses: GuessLimit,
        grants: GrantSigner | None = None,
        live: LiveTokens | None = None,
    ):
        self._clock = clock
        self._guesses = guesses
        self._trusted_proxies = config.trusted_proxies
        self._schedule_blob_deletion = schedule_blob_deletion
        self._holding = config.scan_holds
        self._sender = download_sender(
            config, storage, schedule_blob_deletion, clock, grants, live=live
        )

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str):
        # A download granted earlier and cut off goes on where it stopped (Range with
        # If-Range: its ETag), without a claim.
        if self._sender.resume(req, resp, token, self._check_password):
            return
        # Most downloads need no password: one claim serves them. The rest read the
        # row first, to check the password or to tell 404 from 410.
        if crypto.is_token(token) and self._sender.send_unprotected(req, resp, token):
            return
        drop = self._permitted_drop(req, token)
        # Live when read: a 410 now may be its expiry passing this moment (not_final).
        not_final(req)
        self._sender.send(req, resp, drop)

    def on_get_named(self, req, resp, token: str, filename: str):
        """The seed's /file/<token>/<filename> form: the name is decoration."""
        self.on_get(req, resp, token)

    def on_head(self, req: falcon.Request, resp: falcon.Response, token: str):
        drop = self._permitted_drop(req, token)
        resp.set_headers(download_headers(drop))
        resp.content_length = drop.size

    def on_head_named(self, req, resp, token: str, filename: str):
        self.on_head(req, resp, token)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, token: str):
        drop = self._find(token)
        given = req.get_header("X-Delete-Token")
        if not given:
            raise falcon.HTTPForbidden(description=DELETE_TOKEN_MISSING)
        if not crypto.verify_delete_token(given, drop.delete_token_hash):
            raise falcon.HTTPForbidden(description=DELETE_TOKEN_WRONG)
        if not drops.end_drop(drop.token, DELETED, self._clock()):
            raise falcon.HTTPGone(description="this file is already gone")
        self._schedule_blob_deletion(drop.token)
        resp.status = falcon.HTTP_204

    def _find(self, token: str) -> Drop:
        # The shape check keeps junk paths away from the database entirely.
        drop = drops.find_drop(token) if crypto.is_token(token) else None
        if drop is None:
            raise falcon.HTTPNotFound(description=NO_SUCH_FILE)
        return drop

    def _permitted_drop(self, req: falcon.Request, token: str) -> Drop:
        drop = self._find(token)
        if drop.status == INFECTED:
            raise found_malware()
        if not drop.is_available(self._clock()):
            if drop.status == LIVE:  # past its expiry, not yet swept: it may be extended
                not_final(req)
            raise falcon.HTTPGone()
        refuse_withheld(drop)
        if self._holding and drop.scan_status == SCAN_PENDING:
            raise being_checked()
        self._check_password(req, drop)
        return drop

    def _check_password(self, req: falcon.Request, drop: Drop) -> None:
        """401 (or 429) unless the drop has no password or the request carries it."""
        if drop.password_hash:
            password = request_password(req)
            if not password:
                raise password_refused(PASSWORD_MISSING)
            if not self._password_opens(req, drop, password):
                raise password_refused(PASSWORD_WRONG)

    def _password_opens(self, req: falcon.Request, drop: Drop, password: str) -> bool:
        client = client_address(req, self._trusted_proxies)
        try:
            return password_opens(self._guesses, client, drop, password)
        except TooManyAttempts as refused:
            raise falcon.HTTPTooManyRequests(
                description=(
                    "too many wrong passwords for this file or from this address; "
                    f"try again in {plural(refused.retry_after, 'second')}"
                ),
                retry_after=refused.retry_after,
            ) from None
