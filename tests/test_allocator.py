"""drop/allocator.py: a worker's large buffers go back to the OS once freed, however many
larger ones came and went before (glibc's adaptive threshold would keep them in a heap)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT

# In a child process: the settings are the process's own. Frees a 1 MiB block (botocore's
# read of a part to sign it; left to glibc, that raises its mmap threshold to 1 MiB), then
# allocates 256 KiB (a piece of the body) and asks glibc whether that block was mapped on
# its own (hblkhd: bytes in mmapped blocks), to be unmapped when freed, or carved from a
# heap, which keeps it.
PROBE = """
import ctypes, sys
from drop.allocator import keep_worker_memory_flat

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    ).split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
if sys.argv[1] == "tuned":
    assert keep_worker_memory_flat()
libc.free(libc.malloc(1024 * 1024))
mapped = libc.mallinfo2().hblkhd
block = libc.malloc(256 * 1024)
print(libc.mallinfo2().hblkhd - mapped >= 256 * 1024)
libc.free(block)
"""


def block_mapped_on_its_own(mode: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip() == "True"


def test_a_256_kib_buffer_is_mapped_after_a_1_mib_one_was_freed():
    assert block_mapped_on_its_own("tuned")


def test_left_to_glibc_it_would_come_from_the_heap():
    # What the setting changes: without it the same buffer stays in the heap when freed.
    assert not block_mapped_on_its_own("default")
