"""Moving blobs between stores: `drop-ops storage migrate --to s3` (and `--to local`).

Only live drops' blobs are copied: a gone drop answers 410 whatever is stored. Each copy
goes through the target's own `receive` under the drop's token, so it is atomic there
(a rename on disk, CompleteMultipartUpload in S3): a blob present in the target is whole,
and a run killed midway is simply run again. The sha256 the target computes while it
receives the bytes must be the one the drop recorded at upload, or the copy is discarded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from drop.db.models import LIVE, Drop
from drop.storage.blobs import BlobStorage, UploadTooLarge

BATCH = 500


@dataclass
class MigrationReport:
    copied: int = 0
    already_there: int = 0
    missing: list[str] = field(default_factory=list)  # live drops without a blob to copy
    mismatched: list[str] = field(default_factory=list)  # copies whose sha256 differed

    @property
    def complete(self) -> bool:
        return not (self.missing or self.mismatched)


def live_drops(batch: int = BATCH) -> Iterator[Drop]:
    """Every live drop, in id order, `batch` rows a query (memory bounded by the batch)."""
    last_id = 0
    while True:
        rows = list(
            Drop.select(Drop.id, Drop.token, Drop.size, Drop.sha256)
            .where((Drop.status == LIVE) & (Drop.id > last_id))
            .order_by(Drop.id)
            .limit(batch)
        )
        yield from rows
        if len(rows) < batch:
            return
        last_id = rows[-1].id


def migrate_blobs(
    source: BlobStorage,
    target: BlobStorage,
    progress: Callable[[Drop, str], None] = lambda drop, outcome: None,
) -> MigrationReport:
    """Copy every live drop's blob from `source` to `target` that is not there yet."""
    report = MigrationReport()
    for drop in live_drops():
        if target.size_of(drop.token) == drop.size and target.exists(drop.token):
            report.already_there += 1
            progress(drop, "already there")
            continue
        try:
            blob = source.open(drop.token)
        except FileNotFoundError:
            report.missing.append(drop.token)
            progress(drop, "missing")
            continue
        try:
            # No more than the recorded size: a longer blob is not the one uploaded.
            temp = target.receive(blob, drop.size, token=drop.token)
        except UploadTooLarge:
            temp = None
        finally:
            blob.close()
        if temp is None or temp.sha256 != drop.sha256 or temp.size != drop.size:
            if temp is not None:
                target.discard(temp)
            report.mismatched.append(drop.token)
            progress(drop, "sha256 differs")
            continue
        target.commit(temp)
        report.copied += 1
        progress(drop, "copied")
    return report
