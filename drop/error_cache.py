"""Caches the API's deterministic 4XX answers in Redis, so repeats never reach the database."""

from __future__ import annotations

import json
import logging

import redis

log = logging.getLogger(__name__)

# 404, 405 and 410 depend on the method and path alone. 400, 401 and 413 depend on the
# request's password or body and are never cached.
CACHEABLE = {404, 405, 410}
CACHE_HEADER = "X-Drop-Cache"


class ErrorCache:
    """Falcon middleware: a hit answers from Redis; a miss stores a cacheable answer with a TTL.

    Redis being down never fails a request: it is answered uncached, and the outage
    is logged once until Redis answers again.
    """

    def __init__(self, client: redis.Redis, ttl_seconds: int, prefix: str = "/api/"):
        self._redis = client
        self._ttl = ttl_seconds
        self._prefix = prefix
        self._redis_down = False

    def _key(self, req) -> str:
        return f"drop:4xx:{req.method}:{req.path}"

    def process_request(self, req, resp):
        if not req.path.startswith(self._prefix):
            return
        cached = self._call(self._redis.get, self._key(req))
        if cached is None:
            return
        entry = json.loads(cached)
        resp.status = entry["status"]
        resp.media = entry["body"]
        for name, value in entry["headers"].items():
            resp.set_header(name, value)
        resp.set_header(CACHE_HEADER, "hit")
        req.context.error_cache_hit = True
        resp.complete = True

    def process_response(self, req, resp, resource, req_succeeded):
        if getattr(req.context, "error_cache_hit", False) or not req.path.startswith(self._prefix):
            return
        if resp.status_code not in CACHEABLE:
            return
        headers = {name: resp.get_header(name) for name in ("Allow",) if resp.get_header(name)}
        entry = {"status": resp.status_code, "body": resp.media, "headers": headers}
        if self._call(self._redis.set, self._key(req), json.dumps(entry), ex=self._ttl) is not None:
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
