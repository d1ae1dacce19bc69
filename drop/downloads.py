"""What every permitted download answers with, whichever path serves the bytes."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from drop import crypto, drops
from drop.clients import header_text
from drop.filenames import content_disposition, sanitize_content_type
from drop.limits import GuessLimit
from drop.models import Drop
from drop.storage import BlobStorage, blob_key

PASSWORD_HEADER = "X-Drop-Password"


def request_password(req: falcon.Request) -> str | None:
    """The password from the X-Drop-Password header, or the seed's `password` query parameter."""
    return header_text(req, PASSWORD_HEADER) or req.get_param("password")


def password_opens(guesses: GuessLimit, client: str, drop: Drop, password: str) -> bool:
    """Whether `password` is the drop's, unless the drop or the client is locked out.

    Raises TooManyAttempts while either is: the lock is checked before scrypt runs, so
    a refused guess costs the server less than a right password does.
    """
    return guesses.check(
        (f"password:client:{client}", f"password:drop:{drop.token}"),
        lambda: crypto.verify_password(password, drop.password_hash),
    )


def download_headers(drop: Drop | drops.ClaimedDrop) -> dict[str, str]:
    """Headers that make a browser save the bytes, never render them as our page.

    Nothing here can fail: the server sends them after a download has been claimed.
    """
    return {
        # Checked again on the way out: a row stored before uploads were checked strictly
        # may hold a value that is no valid header, which the server would refuse to send.
        "Content-Type": sanitize_content_type(drop.content_type),
        "Content-Disposition": content_disposition(drop.filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }


class DownloadSender:
    """Claims one download of a drop and answers with its bytes, for the API and the page alike.

    With `accel_redirect` set, nginx sends the bytes (X-Accel-Redirect) and drop only
    decides; otherwise the blob is streamed, so gunicorn can use sendfile(). With
    `scanned_only`, a drop whose malware scan is pending is not claimed.
    """

    def __init__(
        self,
        storage: BlobStorage,
        schedule_blob_deletion: Callable[[str], None],
        clock: Callable,
        accel_redirect: str | None = None,
        *,
        scanned_only: bool = False,
    ):
        self._storage = storage
        self._scanned_only = scanned_only  # DROP_SCAN_MODE=hold: a pending scan serves nothing
        self._schedule_blob_deletion = schedule_blob_deletion
        self._clock = clock
        self._accel_redirect = accel_redirect

    def send(self, req: falcon.Request, resp: falcon.Response, drop: Drop, gone=falcon.HTTPGone):
        """Answer with the drop's bytes, or raise `gone()` when no download is left."""
        if not self._serve(req, resp, drop.token, unprotected_only=False):
            raise gone()

    def send_unprotected(self, req: falcon.Request, resp: falcon.Response, token: str) -> bool:
        """Serve a live drop without a password in one claim, without reading its row first.

        False when it cannot (no such drop, a password, nothing left): the caller then
        reads the row to give the right answer.
        """
        return self._serve(req, resp, token, unprotected_only=True)

    def _serve(self, req, resp, token: str, *, unprotected_only: bool) -> bool:
        if self._accel_redirect:
            # nginx opens the blob only after this answer reaches it.
            if not self._storage.exists(token):
                return False
            claimed = drops.claim_download(
                token,
                self._clock(),
                unprotected_only=unprotected_only,
                scanned_only=self._scanned_only,
            )
            if claimed is None:
                return False
            if claimed.last:
                # Scheduled with the configured grace delay (DROP_DELETE_GRACE_SECONDS).
                self._schedule_blob_deletion(token)
            resp.set_header("X-Accel-Redirect", f"{self._accel_redirect}/{blob_key(token)}")
        else:
            # Open before claiming: a missing blob must not use up a download.
            try:
                blob = self._storage.open(token)
            except FileNotFoundError:
                return False
            claimed = drops.claim_download(
                token,
                self._clock(),
                unprotected_only=unprotected_only,
                scanned_only=self._scanned_only,
            )
            if claimed is None:
                blob.close()
                return False
            if claimed.last:
                # Deletion waits for the server to close the file, so it never races a
                # response that is still reading it.
                blob.after_close(lambda: self._schedule_blob_deletion(token))
            resp.set_stream(blob, claimed.size)
        resp.set_headers(download_headers(claimed))
        req.context.downloaded = claimed  # counted by the metrics middleware
        return True
