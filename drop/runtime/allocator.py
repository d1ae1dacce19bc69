"""glibc malloc settings that keep a web worker's memory flat from one upload to the next.

An upload passes through short-lived buffers of up to 1 MiB: the body's pieces (256 KiB in
gunicorn's reads and drop's), and on S3 botocore's 1 MiB reads of each part to sign it.
Left to itself, glibc maps the first large ones on their own and unmaps them when freed,
raising its mmap threshold (and with it its trim threshold) to each freed block's size, so
that later buffers come from a heap instead, one heap per thread that allocated (up to 8
per core). Which buffer lands where then depends on the order they came in; what is freed
in the middle of a heap stays there, and a larger upload met more such orders. Measured
on S3 (bench/upload_rss.py, mallinfo2 per part): resident memory rose a few KiB with every
part, and a 1 GiB upload raised the peak of a 16 MiB one by 0.6 to 1.1 MiB.

Fixed thresholds (setting them also turns glibc's adjustment off) put every buffer below
4 MiB in the heap from the first upload on, and keep up to 8 MiB free at its top rather
than give it back and fault it in again for the next part: the first upload leaves the
heap as large as any later one needs. One arena holds the allocations of all threads
together: they take turns on the GIL anyway, so its lock is not contended. (Mapping every
buffer on its own instead, with a low threshold, kept the memory flat too but tripled the
CPU time of a local upload: each mapping's pages are faulted in and zeroed anew.)
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt() parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# Above every buffer an upload uses; below S3Storage's 8 MiB part, which is its own mmap.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
# Twice the mmap threshold, as glibc's own adjustment would set it.
TRIM_THRESHOLD_BYTES = 8 * 1024 * 1024
ARENAS = 1


def keep_worker_memory_flat() -> bool:
    """Apply the settings to this process (and those it forks); False where malloc is not
    glibc's (musl, macOS), which has no such thresholds and keeps its own defaults."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 for a parameter it does not know.
    return all(
        mallopt(parameter, value) == 1
        for parameter, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
            (M_ARENA_MAX, ARENAS),
        )
    )
