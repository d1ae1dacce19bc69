"""glibc malloc settings that keep a web worker's memory flat from one upload to the next.

An upload passes through short-lived buffers of 32 KiB to 1 MiB: the body's pieces (32 KiB
in Falcon's reader, 256 KiB in gunicorn's and drop's), and botocore's 1 MiB reads of each
S3 part to sign it. glibc serves the first large ones with mmap and unmaps them when freed,
but each such free raises its mmap threshold to that block's size (up to 32 MiB), so later
buffers come from a heap instead: one heap per thread that allocated (up to 8 per core),
each keeping what was freed in it, in pieces it cannot give back. Measured on S3 (bench/
upload_rss.py, per part with mallinfo2): the worker's resident memory then rose a few KiB
with every part, by about 0.5 MiB over a 1 GiB upload, so a larger upload raised the peak.

Fixed thresholds (setting them also turns glibc's adjustment off) give every buffer of
32 KiB or more back to the OS when it is freed, and one arena keeps the small allocations
of all threads together: they take turns on the GIL anyway, so its lock is not contended.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt() parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# Held fixed instead of growing: buffers from 32 KiB up are mapped and unmapped on their
# own (an mmap and a munmap each, nothing beside a request's network and disk I/O), and
# a heap's free top is given back past glibc's default of 128 KiB.
MMAP_THRESHOLD_BYTES = 32 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024
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
