"""The home page: the upload form, and the result of an upload (htmx fragment or whole page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import falcon

from drop import crypto, wording
from drop.clock import utcnow
from drop.config import Config
from drop.drops import lifecycle as drops
from drop.drops.raw_uploads import NAMELESS
from drop.drops.uploads import MAX_PASSWORD_CHARS, Uploading, receive_drop
from drop.tus import records as tus
from drop.web import pages
from drop.web.qr import qr_svg
from drop.web.templates import Templates

HOUR = 3600
DAY = 24 * HOUR
# Offered when they fit under DROP_MAX_EXPIRES_IN; the maximum itself is always offered.
EXPIRY_CHOICES = (HOUR, DAY, 7 * DAY, 30 * DAY)


@dataclass(frozen=True)
class ExpiryChoice:
    seconds: int
    words: str
    selected: bool


def expiry_choices(config: Config) -> list[ExpiryChoice]:
    """A few sensible expiries up to the configured maximum, the default one selected."""
    seconds = {s for s in EXPIRY_CHOICES if s < config.max_expires_in}
    seconds |= {config.max_expires_in, config.default_expires_in}
    default = config.default_expires_in
    return [ExpiryChoice(s, wording.duration(s), s == default) for s in sorted(seconds)]


def share_path(token: str) -> str:
    return f"/d/{token}"


def delete_path(token: str) -> str:
    return f"/d/{token}/delete"


class HomePage:
    """GET /: the upload form. POST /: store the upload and show its share link.

    PUT / is a `curl -T` upload without a name (drop.drops.raw_uploads): a 400 saying so.
    """

    def __init__(self, uploading: Uploading, templates: Templates):
        self._uploading = uploading
        self._templates = templates

    def on_get(self, req: falcon.Request, resp: falcon.Response):
        pages.set_page_headers(resp)
        self._templates.respond(
            resp,
            "home.html",
            max_upload_bytes=self._uploading.config.max_upload_bytes,
            max_upload_words=wording.file_size(self._uploading.config.max_upload_bytes),
            max_password_chars=MAX_PASSWORD_CHARS,
            max_downloads=self._uploading.config.max_downloads,
            expiry_choices=expiry_choices(self._uploading.config),
            # A token-only drop says so instead of showing a form nobody may use.
            anonymous_uploads=self._uploading.config.anonymous_uploads,
            base_url=self._uploading.config.base_url or req.prefix,
            upload_chunk_bytes=self._uploading.config.upload_chunk_bytes,
        )

    on_head = on_get

    def on_put(self, req: falcon.Request, resp: falcon.Response):
        # `curl -T - https://drop/` reads stdin and so has no name to put in the URL.
        raise falcon.HTTPBadRequest(description=NAMELESS)

    def on_post(self, req: falcon.Request, resp: falcon.Response):
        uploader = self._uploading.uploaders.admit(req)
        now = self._uploading.clock()
        new = receive_drop(
            req,
            uploader.config,
            self._uploading.storage,
            now,
            uploader.quota,
            self._uploading.scanning,
        )
        show_result(
            self._templates,
            self._uploading.config,
            req,
            resp,
            new.drop,
            new.delete_token,
            now,
            status=falcon.HTTP_201,
        )


class UploadedPage:
    """GET /uploaded/<upload id>: the result of a resumable upload the page made.

    The page's tus upload ends with its id; the uploader alone knows it (128 random
    bits), so this may show the delete link, as the form's answer does, until the upload
    record expires.
    """

    def __init__(self, config: Config, templates: Templates, clock: Callable = utcnow):
        self._config = config
        self._templates = templates
        self._clock = clock

    def on_get(self, req: falcon.Request, resp: falcon.Response, upload_id: str):
        now = self._clock()
        upload = tus.find_upload(upload_id) if crypto.is_token(upload_id) else None
        drop = drops.find_drop(upload.drop_token) if upload and upload.drop_token else None
        if upload is None or upload.is_gone(now) or drop is None:
            raise falcon.HTTPNotFound(
                description="This upload is unknown, unfinished, or too old to show again."
            )
        show_result(self._templates, self._config, req, resp, drop, upload.delete_token, now)


def show_result(
    templates: Templates,
    config: Config,
    req: falcon.Request,
    resp: falcon.Response,
    drop,
    delete_token: str,
    now,
    *,
    status: str = falcon.HTTP_200,
) -> None:
    """The share link, QR code, facts and delete link of a new drop: a page, or a
    fragment for htmx."""
    base = config.base_url or req.prefix
    share_url = base + share_path(drop.token)
    pages.render(
        templates,
        req,
        resp,
        "uploaded.html",
        "_result.html",
        status=status,
        drop=drop,
        share_url=share_url,
        delete_url=f"{base}{delete_path(drop.token)}?key={delete_token}",
        qr=qr_svg(share_url),
        size_words=wording.file_size(drop.size),
        expiry_words=wording.expiry(drop.expires_at, now),
        downloads_words=wording.downloads_left(drop.max_downloads, drop.max_downloads),
    )
