"""What every permitted download answers with, whichever path serves the bytes."""

from __future__ import annotations

import threading
from collections.abc import Callable

import falcon

from drop import crypto
from drop.db.models import DOWNLOADED, LIVE, Drop
from drop.drops import lifecycle as drops
from drop.drops import resume_grants
from drop.drops.byte_ranges import Unsatisfiable, requested_range
from drop.drops.filenames import content_disposition, sanitize_content_type
from drop.drops.grants import Grant, GrantSigner
from drop.protection import blocks
from drop.protection.clients import header_text
from drop.protection.counters import hashed_key
from drop.protection.limits import GuessLimit
from drop.refusals import Withheld
from drop.storage import BlobStorage

PASSWORD_HEADER = "X-Drop-Password"
# Below DROP_ACCEL_REDIRECT: the location where nginx serves a resumed download's range
# (ops/nginx.conf). Blob keys start with two hex digits, so it meets none of them.
ACCEL_RESUME = "resume"


def request_password(req: falcon.Request) -> str | None:
    """The password from the X-Drop-Password header, or the seed's `password` query parameter."""
    return header_text(req, PASSWORD_HEADER) or req.get_param("password")


def refuse_withheld(drop: Drop) -> None:
    """451 for a drop the operator withholds (its content is blocked); never its bytes."""
    if blocks.content_block(drop.sha256) is not None:
        raise Withheld()


def password_opens(guesses: GuessLimit, client: str, drop: Drop, password: str) -> bool:
    """Whether `password` is the drop's, unless the drop or the client is locked out.

    Raises TooManyAttempts while either is: the lock is checked before scrypt runs, so
    a refused guess costs the server less than a right password does.
    """
    return guesses.check(
        # The token is the download key: its counter, kept 24 hours, is named by a hash.
        (f"password:client:{client}", f"password:drop:{hashed_key(drop.token)}"),
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


def resumable(drop: Drop, grant: Grant, now) -> bool:
    """Whether a download granted earlier may go on: the drop is live, or was used up by
    downloads, and has not expired. Deleted, revoked or expired drops end their resumes;
    whether this grant's download was cut is for drop.drops.resume_grants to say."""
    if grant.number > drop.downloads:
        return False
    return drop.status in (DOWNLOADED, LIVE) and drop.expires_at > now


class DownloadSender:
    """Claims one download of a drop and answers with its bytes, for the API and the page alike.

    With `accel_redirect` set, nginx sends the bytes (X-Accel-Redirect: the file, or on
    S3 a presigned URL nginx proxies) and drop only decides; with `redirect_presigned`
    (S3 only) the client is sent to a presigned URL; otherwise the blob is streamed, so
    gunicorn can use sendfile() (a local file) or send the object on in bounded chunks.
    With `grants`, each download carries an ETag that lets its recipient resume it
    (`resume`). With `scanned_only`, a drop whose malware scan is pending is not claimed.
    """

    def __init__(
        self,
        storage: BlobStorage,
        schedule_blob_deletion: Callable[..., None],
        clock: Callable,
        accel_redirect: str | None = None,
        grants: GrantSigner | None = None,
        *,
        scanned_only: bool = False,
        redirect_presigned: bool = False,
        live: LiveTokens | None = None,
    ):
        self._live = live  # told which drops have downloads left (drop.web.error_cache)
        self._storage = storage
        self._scanned_only = scanned_only  # DROP_SCAN_MODE=hold: a pending scan serves nothing
        self._schedule_blob_deletion = schedule_blob_deletion
        self._clock = clock
        self._accel_redirect = accel_redirect
        self._grants = grants
        self._redirect_presigned = redirect_presigned

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

    def resume(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        token: str,
        opens: Callable[[falcon.Request, Drop], None],
    ) -> bool:
        """Serve the range a request asks for of a download granted earlier, claiming none.

        Only a Range request whose If-Range is that grant's ETag, within the resume window,
        resumes; for anything else this returns False and the request is an ordinary
        download, which claims one and sends the whole file (a Range without the ETag
        included): a download limit can never be multiplied by ranges. `opens(req, drop)`
        raises unless the request may open the drop (a password is asked for again).
        The checks before the database cost nothing: a GET without If-Range never reads it.
        """
        if_range = req.get_header("If-Range")
        wanted = req.get_header("Range")
        if not (if_range and wanted and self._grants and crypto.is_token(token)):
            return False
        now = self._clock()
        grant = self._grants.verify(token, if_range, now)
        if grant is None:
            return False
        drop = drops.find_drop(token)
        if drop is None or not resumable(drop, grant, now):
            return False
        refuse_withheld(drop)  # a block added since the grant ends its resume too
        opens(req, drop)
        try:
            byte_range = requested_range(wanted, drop.size)
        except Unsatisfiable:
            raise falcon.HTTPRangeNotSatisfiable(
                drop.size, description=f"the file has {drop.size} bytes"
            ) from None
        if byte_range is None:
            return False
        # Counted before a byte leaves: however many resumes of this grant run at once,
        # together they send no more than the file holds. A completed download has no
        # grant left to resume.
        if not resume_grants.reserve(token, grant.number, byte_range.length, drop.size):
            return False
        if self._accel_redirect and not self._redirect_presigned:
            if not self._storage.exists(token):
                resume_grants.give_back(token, grant.number, byte_range.length)
                return False
            # nginx sends the range itself: from the file (checking If-Range against this
            # answer's ETag), or on S3 by passing the Range on to the store.
            target = f"{self._accel_redirect}/{ACCEL_RESUME}/{self._storage.accel_path(token)}"
            resp.set_header("X-Accel-Redirect", target)
        else:
            # Streamed even with DROP_S3_REDIRECT=presigned: the client would send its
            # If-Range on to the store, which compares it with its own ETag, not the grant's,
            # and answer with the whole object.
            try:
                blob = self._storage.open_range(token, byte_range.start, byte_range.length)
            except FileNotFoundError:
                resume_grants.give_back(token, grant.number, byte_range.length)
                return False
            to_the_end = byte_range.end == drop.size - 1
            blob.after_close(lambda: self._resume_closed(token, grant.number, blob, to_the_end))
            resp.status = falcon.HTTP_206
            resp.content_range = (byte_range.start, byte_range.end, drop.size)
            resp.set_stream(blob, byte_range.length)
        resp.set_headers(download_headers(drop))
        resp.set_header("ETag", if_range.strip())
        resp.set_header("Accept-Ranges", "bytes")
        req.context.resumed_bytes = byte_range.length  # counted by the metrics middleware
        return True

    def _serve(self, req, resp, token: str, *, unprotected_only: bool) -> bool:
        served = self._claim_and_answer(req, resp, token, unprotected_only=unprotected_only)
        if self._live is not None:
            claimed = getattr(req.context, "downloaded", None) if served else None
            if claimed is not None and not claimed.last:
                self._live.served(token)
            else:
                self._live.ended(token)
        return served

    def _claim_and_answer(self, req, resp, token: str, *, unprotected_only: bool) -> bool:
        now = self._clock()
        if self._accel_redirect or self._redirect_presigned:
            # nginx opens the blob only after this answer reaches it.
            if not self._storage.exists(token):
                return False
            claimed = drops.claim_download(
                token,
                now,
                unprotected_only=unprotected_only,
                scanned_only=self._scanned_only,
                granted=self._granting,
            )
            if claimed is None:
                return False
            etag = self._etag(token, claimed, now)
            if claimed.last:
                # drop never learns when nginx or the client has the last byte: after the
                # grace delay (DROP_DELETE_GRACE_SECONDS), and the resume window.
                self._schedule_blob_deletion(token, keep_seconds=self._kept_for(etag))
            if self._redirect_presigned:
                # The store sends the bytes, and drop's headers as response overrides.
                resp.status = falcon.HTTP_302
                resp.location = self._storage.redirect_url(token, download_headers(claimed))
            else:
                target = f"{self._accel_redirect}/{self._storage.accel_path(token)}"
                resp.set_header("X-Accel-Redirect", target)
        else:
            # Open before claiming: a missing blob must not use up a download.
            try:
                blob = self._storage.open(token)
            except FileNotFoundError:
                return False
            claimed = drops.claim_download(
                token,
                now,
                unprotected_only=unprotected_only,
                scanned_only=self._scanned_only,
                granted=self._granting,
            )
            if claimed is None:
                blob.close()
                return False
            etag = self._etag(token, claimed, now)
            # Decided once the server has closed the file, so it never races a response
            # that is still reading it, and knows whether the whole body went out.
            blob.after_close(lambda: self._download_closed(claimed, etag, blob))
            resp.set_stream(blob, claimed.size)
        resp.set_headers(download_headers(claimed))
        if etag is not None:
            resp.set_header("ETag", etag)
            resp.set_header("Accept-Ranges", "bytes")
        req.context.downloaded = claimed  # counted by the metrics middleware
        return True

    @property
    def _granting(self) -> bool:
        """Whether downloads carry resume ETags, and so a `resume_grant` row each."""
        return self._grants is not None and self._grants.window_seconds > 0

    def _download_closed(self, claimed: drops.ClaimedDrop, etag: str | None, blob) -> None:
        """A streamed download is over: its blob goes now if it completed and nothing else
        needs it; a cut one keeps it for the resume window (or until its resume completes)."""
        token = claimed.token
        if not self._granting:
            if claimed.last:
                self._schedule_blob_deletion(token)
            return
        completed = blob.completed

        def settle() -> None:
            if completed or etag is None:  # nothing to resume
                resume_grants.close(token, claimed.downloads)
                if not resume_grants.blob_needed(token):
                    self._schedule_blob_deletion(token)
            elif claimed.last:
                # Cut: the window is the longest it may wait (a completed resume is sooner).
                self._schedule_blob_deletion(token, keep_seconds=self._kept_for(etag))

        resume_grants.after_response(settle, f"blob of drop {token[:8]}…")

    def _resume_closed(self, token: str, number: int, blob, to_the_end: bool) -> None:
        """A streamed resume is over: one that sent the file's last byte completes its
        download (the blob goes if nothing else needs it); a cut one gives back the bytes
        it reserved and did not send."""
        completed, unsent = blob.completed, blob.length - blob.sent

        def settle() -> None:
            if not completed:
                resume_grants.give_back(token, number, unsent)
            elif to_the_end:
                resume_grants.close(token, number)
                if not resume_grants.blob_needed(token):
                    self._schedule_blob_deletion(token)

        resume_grants.after_response(settle, f"blob of drop {token[:8]}…")

    def _etag(self, token: str, claimed: drops.ClaimedDrop, now) -> str | None:
        # claimed.downloads is this grant's number: the claim counted it atomically.
        return self._grants.etag(token, claimed.downloads, now) if self._grants else None

    def _kept_for(self, etag: str | None) -> int:
        """How long a used-up drop's blob outlives its last download: while it may resume."""
        return self._grants.window_seconds if etag is not None else 0


def download_sender(
    config,
    storage: BlobStorage,
    schedule_blob_deletion: Callable[[str], None],
    clock: Callable,
    grants: GrantSigner | None,
    live: LiveTokens | None = None,
) -> DownloadSender:
    """The DownloadSender `config` describes (X-Accel-Redirect, scan holds, S3 redirects),
    for the API's file resource and the share page alike."""
    return DownloadSender(
        storage,
        schedule_blob_deletion,
        clock,
        config.accel_redirect,
        grants,
        scanned_only=config.scan_holds,
        redirect_presigned=config.s3_redirect == "presigned",
        live=live,
    )


# Tokens remembered by LiveTokens: a few hundred KiB at most.
MAX_LIVE_TOKENS = 4096


class LiveTokens:
    """Tokens whose download this process served a moment ago, with downloads left.

    A GET for one of them skips the 4XX cache: it is live, so no 4XX of it can be cached
    unless it ended since, and then its claim fails and the answer is read from the
    database once (and cached). Every download would otherwise wait on a Redis round trip
    that misses. A claim that fails or takes the last download forgets the token.
    """

    def __init__(self, max_tokens: int = MAX_LIVE_TOKENS):
        self._max = max_tokens
        self._tokens: dict[str, None] = {}
        self._lock = threading.Lock()

    def __contains__(self, token: str) -> bool:
        return token in self._tokens

    def served(self, token: str) -> None:
        if token in self._tokens:
            return
        with self._lock:
            self._tokens[token] = None
            if len(self._tokens) > self._max:
                del self._tokens[next(iter(self._tokens))]  # the oldest

    def ended(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)
