"""PUT /<name>: `curl -T` uploads, answered with the share link on one line (or the API's JSON)."""

from __future__ import annotations

import falcon

from drop.drops.raw_uploads import read_raw_upload
from drop.drops.uploads import Uploading, store_upload
from drop.resources.api_file import drop_api_url, upload_answer
from drop.resources.page_home import share_path
from drop.web.errors import prefers_json_to_text


class RawUpload:
    """PUT /<name>: the body is the file (transfer.sh's convention); GET /<name> stays 404.

    Falcon matches literal segments first, so /healthz, /metrics, /ops… keep their own
    resources; only a name no other route claims reaches this one.
    """

    def __init__(self, uploading: Uploading):
        self._uploading = uploading

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str):
        # Anonymous, or a trusted uploader with its token's limits: decided before the body.
        uploader = self._uploading.uploaders.admit(req)
        new = store_upload(
            req,
            uploader.config,
            self._uploading.storage,
            self._uploading.clock(),
            uploader.quota,
            lambda: read_raw_upload(req, uploader.config, self._uploading.storage, name),
            self._uploading.scanning,
        )
        base = self._uploading.config.base_url or req.prefix
        share_url = base + share_path(new.drop.token)
        api_url = drop_api_url(base, new.drop.token)
        resp.status = falcon.HTTP_201
        resp.location = api_url
        resp.set_headers(
            {
                "Drop-Url": api_url,
                "Drop-Share-Url": share_url,
                "Drop-Delete-Token": new.delete_token,
                "Cache-Control": "no-store",
            }
        )
        resp.append_header("Vary", "Accept")
        if prefers_json_to_text(req):
            resp.media = upload_answer(new, base)
        else:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = share_url + "\n"

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str):
        # Nothing is served at /<name> (a browser's /favicon.ico, /robots.txt): as before.
        raise falcon.HTTPNotFound()

    on_head = on_get
