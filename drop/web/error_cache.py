"""Caches the API's deterministic 4XX answers, so repeats never reach the database.

With Redis, in Redis (shared by every worker and node), fronted by a few seconds' copy in
each process; on the embedded default (no Redis), in each process's memory alone.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable

import falcon
import redis

from drop.drops.downloads import LiveTokens

log = logging.getLogger(__name__)

# 404, 405 and 410 depend on the method and path alone. 400, 401 and 413 depend on the
# request's password or body and are never cached.
CACHEABLE = {404, 405, 410}
CACHE_HEADER = "X-Drop-Cache"
KEY_PREFIX = "drop:4xx:"
# Entries are b"3|<status>|<Allow>|<JSON body>"; 3: every body has a detail.
ENTRY_VERSION = b"3"
# Only the paths the API really has, with a token of the real shape: an invented path
# or method never becomes a key in Redis (the queue's database). The name part of
# /file/<token>/<name> is ignored by the API, so it is not part of the key either.
_CACHEABLE_PATH = re.compile(r"/api/v1\.0/file(?:/([0-9a-f]{32})(/[^/]+)?)?")
_CACHEABLE_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"})
# An upload (PUT or POST /api/v1.0/file) never answers 404, 405 or 410: looking it up
# would cost every upload a Redis round trip that always misses.
_UPLOAD_METHODS = frozenset({"PUT", "POST"})
# Every key is at most len(KEY_PREFIX) + 7 + 1 + 34 characters and every entry a few
# hundred bytes, so the cache holds at most (cacheable requests per TTL) × ~300 bytes.


# Answers RecentAnswers keeps in a process: a few entries of ~300 bytes for a few seconds.
MAX_RECENT_ANSWERS = 4096
RECENT_SECONDS = 5


class RecentAnswers:
    """The cache's entries this process read or wrote a moment ago, in front of Redis.

    Every cached answer is final (a 404 or 410 of a token, a 405 of a path: nothing makes
    them right again), so a copy in memory is as true as Redis's; it is kept a few seconds
    only so the cache's TTL still bounds how long an entry is used. A repeated bad request
    then costs no Redis round trip, which was most of its time.
    """

    def __init__(
        self,
        max_entries: int = MAX_RECENT_ANSWERS,
        seconds: float = RECENT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._max = max_entries
        self._seconds = seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        kept_until, entry = found
        if self._clock() >= kept_until:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return entry

    def put(self, key: str, entry: bytes) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self._seconds, entry)
            if len(self._entries) > self._max:
                del self._entries[next(iter(self._entries))]  # the oldest


class ErrorCache:
    """Falcon middleware: a hit answers from the cache; a miss stores a cacheable answer
    with a TTL.

    Without a Redis `client` the answers are kept in this process for the TTL (at most
    MAX_RECENT_ANSWERS of them). Redis being down never fails a request: it is answered
    uncached, and the outage is logged once until Redis answers again.
    """

    def __init__(
        self,
        client: redis.Redis | None,
        ttl_seconds: int,
        names_grant: Callable[[str, str], bool] | None = None,
        live: LiveTokens | None = None,
        recent: RecentAnswers | None = None,
    ):
        self._redis = client
        self._ttl = ttl_seconds
        self._redis_down = False
        self._names_grant = names_grant
        self._live = live
        # In front of Redis a few seconds' copy; without it, the cache itself.
        seconds = ttl_seconds if client is None else min(RECENT_SECONDS, ttl_seconds)
        self._recent = recent or RecentAnswers(seconds=seconds)

    def _resumes(self, req) -> bool:
        """Whether the request resumes a granted download (drop/drops/grants.py): a one-time drop
        answers 410 to everyone once its download is granted, but not to that download's
        resumes, so they never meet the cache. Only a valid grant passes: an invented
        If-Range cannot be used to get around the cache."""
        if_range = req.get_header("If-Range")
        if if_range is None or self._names_grant is None:
            return False
        match = _CACHEABLE_PATH.fullmatch(req.path)
        return bool(match and match[1] and self._names_grant(match[1], if_range))

    def _served_live(self, req) -> bool:
        """Whether the request downloads a drop this process just served (LiveTokens)."""
        if self._live is None or req.method != "GET":
            return False
        match = _CACHEABLE_PATH.fullmatch(req.path)
        return bool(match and match[1] and match[1] in self._live)

    def process_request(self, req, resp):
        key = cache_key(req.method, req.path)
        if key is None or self._served_live(req) or self._resumes(req):
            return
        cached = self._recent.get(key)
        if cached is None:
            if self._redis is None:
                return
            cached = self._call(self._redis.get, key)
            if cached is None:
                return
            self._recent.put(key, cached)
        # The entry is the answer as sent, so a hit parses and encodes nothing.
        version, status, allow, body = cached.split(b"|", 3)
        if version != ENTRY_VERSION:
            return  # written by an older drop: answered afresh, then stored again
        resp.status = int(status)
        resp.data = body
        resp.content_type = falcon.MEDIA_JSON
        if allow:
            resp.set_header("Allow", allow.decode())
        resp.set_header(CACHE_HEADER, "hit")
        req.context.error_cache_hit = True
        resp.complete = True

    def process_response(self, req, resp, resource, req_succeeded):
        key = cache_key(req.method, req.path)
        if getattr(req.context, "error_cache_hit", False) or key is None or self._resumes(req):
            return
        if getattr(req.context, "error_not_final", False):
            return
        if resp.status_code not in CACHEABLE:
            return
        body = resp.data
        if body is None:
            body = json.dumps(resp.media, ensure_ascii=False).encode()
        allow = (resp.get_header("Allow") or "").encode()
        entry = b"|".join((ENTRY_VERSION, str(resp.status_code).encode(), allow, body))
        if self._redis is None or self._call(self._redis.set, key, entry, ex=self._ttl):
            self._recent.put(key, entry)
            resp.set_header(CACHE_HEADER, "miss")

    def _call(self, method, *args, **kwargs):
        try:
            result = method(*args, **kwargs)
        except redis.RedisError as error:
            if not self._redis_down:
                log.warning("4XX cache disabled, Redis unreachable: %s", error)
                self._redis_down = True
            return None
        if self._redis_down:
            log.warning("4XX cache enabled again, Redis answers")
            self._redis_down = False
        return result


def not_final(req) -> None:
    """Keep this request's answer out of the cache: a 410 of a drop still live in the
    database (past its expiry, not yet swept), which an operator may revive by extending
    it (drop.ops.edits). Only a drop that has ended (downloaded, expired by the sweep,
    deleted, revoked) can never come back, and only its 410 is cached: no edit then has
    to reach every process's copy."""
    req.context.error_not_final = True


def cache_key(method: str, path: str) -> str | None:
    """The Redis key for a request's cached answer, or None when it must not be cached."""
    match = _CACHEABLE_PATH.fullmatch(path)
    if match is None or method not in _CACHEABLE_METHODS:
        return None
    token, name = match.groups()
    if token is None:
        return None if method in _UPLOAD_METHODS else f"{KEY_PREFIX}{method}:file"
    return f"{KEY_PREFIX}{method}:{token}{'/n' if name else ''}"
