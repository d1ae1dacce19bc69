"""GET /api/v1.0/openapi.json: the API's OpenAPI 3.1 document, with this server's limits."""

from __future__ import annotations

import json
from importlib import resources

import falcon

from drop.config import Config
from drop.drops.uploads import MAX_PASSWORD_CHARS


def api_document(config: Config) -> dict:
    """The OpenAPI document (`drop/openapi.json`) with the limits `config` sets filled in."""
    document = json.loads(resources.files("drop").joinpath("openapi.json").read_text("utf-8"))
    form = document["components"]["schemas"]["UploadForm"]["properties"]
    form["password"]["maxLength"] = MAX_PASSWORD_CHARS
    form["expires_in"]["maximum"] = config.max_expires_in
    form["max_downloads"]["maximum"] = config.max_downloads
    parameters = document["components"]["parameters"]
    for header in ("UploadLength", "UploadOffset"):
        parameters[header]["schema"]["maximum"] = config.max_upload_bytes
    return document


class OpenAPIDocument:
    """The document is built once, when the app is; it changes only with the config."""

    opens_database = False

    def __init__(self, config: Config):
        self._body = json.dumps(api_document(config), indent=2).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body
