"""The share page a link opens, its download button, and the uploader's delete page."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from drop import crypto, wording
from drop.clock import utcnow
from drop.config import Config
from drop.db.models import DELETED, INFECTED, SCAN_PENDING, Drop
from drop.drops import lifecycle as drops
from drop.drops.downloads import download_sender, password_opens, refuse_withheld
from drop.drops.grants import GrantSigner
from drop.protection.clients import client_address
from drop.protection.limits import GuessLimit, TooManyAttempts
from drop.resources.page_home import delete_path, share_path
from drop.storage import BlobStorage
from drop.web import pages
from drop.web.errors import SCAN_RETRY_AFTER_SECONDS, found_malware
from drop.web.templates import Templates

FORM = "application/x-www-form-urlencoded"
# These forms carry one password or key; Falcon reads a url-encoded body whole, so cap it.
MAX_FORM_BYTES = 16 * 1024
GONE = "It was downloaded as many times as allowed, it expired, or it was deleted."
MALWARE = "It was found to contain malware, and it will not be served again."
# The being-checked page reloads itself this often until the file is ready.
CHECKING_REFRESH_SECONDS = 5


def find_drop(token: str) -> Drop:
    """The drop behind a token from the URL; 404 for junk or unknown tokens."""
    # The shape check keeps junk paths away from the database entirely.
    drop = drops.find_drop(token) if crypto.is_token(token) else None
    if drop is None:
        raise falcon.HTTPNotFound(
            description="There is no file at this link. Check that you copied all of it."
        )
    return drop


def form_field(req: falcon.Request, name: str) -> str:
    """One field of a small url-encoded form; 415 for any other kind of body."""
    if not req.content_length:
        return ""
    if req.content_length > MAX_FORM_BYTES:
        raise falcon.HTTPContentTooLarge(description="this form is far larger than it can be")
    if not (req.content_type or "").lower().startswith(FORM):
        raise falcon.HTTPUnsupportedMediaType(description=f"send the form as {FORM}")
    value = req.get_media(default_when_empty={}).get(name, "")
    # A field sent twice arrives as a list: that is not a form this page made.
    if not isinstance(value, str):
        raise falcon.HTTPBadRequest(description=f"send {name} once")
    return value


class SharePage:
    """GET/HEAD /d/<token>: what the file is, for free. POST: the Download button.

    Only POST uses a download: chat apps and mail scanners fetch links to preview
    them, and a one-time file must survive that.
    """

    def __init__(
        self,
        config: Config,
        storage: BlobStorage,
        templates: Templates,
        schedule_blob_deletion: Callable[[str], None],
        clock: Callable = utcnow,
        *,
        guesses: GuessLimit,
        grants: GrantSigner | None = None,
    ):
        self._templates = templates
        self._clock = clock
        self._guesses = guesses
        self._trusted_proxies = config.trusted_proxies
        self._holding = config.scan_holds
        self._sender = download_sender(config, storage, schedule_blob_deletion, clock, grants)

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str):
        drop = self._available(token)
        if self._held(drop):
            self._show_checking(req, resp, drop)
            return
        self._show(req, resp, drop)

    on_head = on_get

    def on_post(self, req: falcon.Request, resp: falcon.Response, token: str):
        # A download this button started and that was cut off, resumed by the browser
        # (the same form again, with Range and If-Range): no new download is used.
        if self._sender.resume(req, resp, token, self._check_form_password):
            return
        drop = self._available(token)
        if self._held(drop):
            self._show_checking(req, resp, drop)
            return
        if drop.password_hash:
            password = form_field(req, "password")
            client = client_address(req, self._trusted_proxies)
            try:
                right = bool(password) and password_opens(self._guesses, client, drop, password)
            except TooManyAttempts as refused:
                resp.set_header("Retry-After", str(refused.retry_after))
                message = (
                    "Too many wrong passwords. Wait "
                    f"{wording.duration(refused.retry_after)} and try again."
                )
                self._show(req, resp, drop, falcon.HTTP_429, password_error=message)
                return
            if not right:
                resp.set_header("WWW-Authenticate", 'Drop-Password realm="drop"')
                message = "That password is not right." if password else "Enter the password."
                self._show(req, resp, drop, falcon.HTTP_401, password_error=message)
                return
        # The claim checks again, in the same statement: live, and in hold mode not pending.
        self._sender.send(req, resp, drop, gone=lambda: self._gone_now(token))

    def _check_form_password(self, req: falcon.Request, drop: Drop) -> None:
        """For a resume: the form's password must still open the drop (401/429 if not)."""
        if not drop.password_hash:
            return
        password = form_field(req, "password")
        client = client_address(req, self._trusted_proxies)
        try:
            right = bool(password) and password_opens(self._guesses, client, drop, password)
        except TooManyAttempts as refused:
            raise falcon.HTTPTooManyRequests(retry_after=refused.retry_after) from None
        if not right:
            raise falcon.HTTPUnauthorized(
                description="That password is not right.",
                challenges=['Drop-Password realm="drop"'],
            )

    def _available(self, token: str) -> Drop:
        drop = find_drop(token)
        if drop.status == INFECTED:
            raise found_malware(MALWARE)
        if not drop.is_available(self._clock()):
            raise falcon.HTTPGone(description=GONE)
        refuse_withheld(drop)
        return drop

    def _gone_now(self, token: str) -> falcon.HTTPError:
        # The claim found nothing to give: the drop is gone, or it was found infected
        # between the page's read of the row and the claim.
        drop = drops.find_drop(token)
        if drop is not None and drop.status == INFECTED:
            return found_malware(MALWARE)
        return falcon.HTTPGone(description=GONE)

    def _held(self, drop: Drop) -> bool:
        return self._holding and drop.scan_status == SCAN_PENDING

    def _show_checking(self, req, resp, drop: Drop):
        """423: the file waits for its malware scan; the page reloads itself until then."""
        resp.set_header("Retry-After", str(SCAN_RETRY_AFTER_SECONDS))
        self._show(req, resp, drop, falcon.HTTP_423, checking=True)

    def _show(
        self, req, resp, drop: Drop, status=falcon.HTTP_200, password_error="", checking=False
    ):
        pages.render(
            self._templates,
            req,
            resp,
            "share.html",
            "_share.html",
            status=status,
            drop=drop,
            share_path=share_path(drop.token),
            size_words=wording.file_size(drop.size),
            expiry_words=wording.expiry(drop.expires_at, self._clock()),
            downloads_words=wording.downloads_left(drop.downloads_left, drop.max_downloads),
            password_error=password_error,
            checking=checking,
            refresh_seconds=CHECKING_REFRESH_SECONDS,
        )


class DeletePage:
    """GET /d/<token>/delete?key=…: asks to confirm. POST: deletes. A GET never deletes."""

    def __init__(
        self,
        templates: Templates,
        schedule_blob_deletion: Callable[[str], None],
        clock: Callable = utcnow,
    ):
        self._templates = templates
        self._schedule_blob_deletion = schedule_blob_deletion
        self._clock = clock

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str):
        key = req.get_param("key") or ""
        drop = self._permitted(token, key)
        if not drop.is_available(self._clock()):
            raise falcon.HTTPGone(description=GONE)
        pages.set_page_headers(resp)
        self._templates.respond(
            resp, "delete.html", drop=drop, key=key, delete_path=delete_path(drop.token)
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response, token: str):
        drop = self._permitted(token, form_field(req, "key"))
        if not drops.end_drop(drop.token, DELETED, self._clock()):
            raise falcon.HTTPGone(description=GONE)
        self._schedule_blob_deletion(drop.token)
        pages.set_page_headers(resp)
        self._templates.respond(resp, "deleted.html", drop=drop)

    def _permitted(self, token: str, key: str) -> Drop:
        drop = find_drop(token)
        if not (crypto.is_token(key) and crypto.verify_delete_token(key, drop.delete_token_hash)):
            raise falcon.HTTPForbidden(
                description="This delete link is not valid. Use the whole link shown after upload."
            )
        return drop
