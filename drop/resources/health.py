"""/healthz (the process answers) and /readyz (what it depends on answers too)."""

from __future__ import annotations

import falcon
import peewee
import redis

from drop.protection.scanning import Clamd, ScannerUnavailable
from drop.storage import BlobStorage

OK = "ok"
DEGRADED = "degraded"
# Checks whose failure is reported without a 503.
DEGRADING = frozenset({"scanner"})
# A load balancer polls /readyz often; a hung clamd must not hold the answer long.
SCANNER_PING_SECONDS = 1


class Liveness:
    """GET /healthz: 200 while the process can answer at all; touches nothing else."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": OK}


class Readiness:
    """GET /readyz: the database, Redis and clamd (when configured) and blob storage, each
    checked.

    Storage fails when the data directory takes no writes or has less free space than
    DROP_MIN_FREE_BYTES (uploads are refused then; downloads still work), or when the
    object store (DROP_STORAGE=s3) does not answer or refuses a probe object.

    503 names the parts that failed, so a load balancer stops sending traffic and an
    operator sees where to look.
    """

    def __init__(
        self,
        database: peewee.DatabaseProxy,
        storage: BlobStorage,
        redis_client: redis.Redis | None = None,
        scanner: Clamd | None = None,
    ):
        self._db = database
        self._storage = storage
        self._redis = redis_client
        self._scanner = scanner

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        checks = {"database": self._database(), "storage": self._storage_writable()}
        if self._redis is not None:
            checks["redis"] = self._redis_answers()
        if self._scanner is not None:
            checks["scanner"] = self._scanner_answers()
        failed = [name for name, result in checks.items() if result != OK]
        # clamd down degrades the service without stopping it (uploads are kept and
        # scanned later): named, but no 503, which would take every node sharing that
        # clamd out of the load balancer at once, downloads of scanned files too.
        degraded = [name for name in failed if name in DEGRADING]
        failed = [name for name in failed if name not in DEGRADING]
        status = "unavailable" if failed else DEGRADED if degraded else OK
        resp.media = {"status": status, "checks": checks}
        if degraded:
            resp.media["degraded"] = degraded
        if failed:
            resp.media["failed"] = failed
            resp.status = falcon.HTTP_503
        resp.cache_control = ["no-store"]

    def _database(self) -> str:
        try:
            with self._db.connection_context():
                self._db.execute_sql("SELECT 1")
        except (peewee.DatabaseError, peewee.InterfaceError):
            return "unreachable"
        return OK

    def _redis_answers(self) -> str:
        try:
            self._redis.ping()
        except redis.RedisError:
            return "unreachable"
        return OK

    def _scanner_answers(self) -> str:
        # Uploads still succeed without clamd (their scans wait in the queue), but in
        # hold mode nothing new can be downloaded: the operator must hear of it.
        try:
            self._scanner.ping(timeout=SCANNER_PING_SECONDS)
        except ScannerUnavailable:
            return "unreachable"
        return OK

    def _storage_writable(self) -> str:
        # A tiny object written and removed: the directory (or bucket) takes writes now.
        return self._storage.readiness() or OK
