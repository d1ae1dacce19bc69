"""drop/runtime/allocator.py: a worker's large buffers come from its heap, which keeps them for the
next one, from the first buffer on (glibc alone maps the first ones, then switches)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.common import ROOT

# In a child process: the settings are the process's own. Allocates, frees and allocates
# again a 1 MiB block (botocore's read of a part to sign it) and prints whether the first
# was mapped on its own (hblkhd: bytes in mmapped blocks), whether the heap kept it once
# freed, and whether the second took its place.
PROBE = """
import ctypes, sys
from drop.runtime.allocator import keep_worker_memory_flat

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
mapped = libc.mallinfo2().hblkhd
first = libc.malloc(1024 * 1024)
was_mapped = libc.mallinfo2().hblkhd - mapped >= 1024 * 1024
libc.free(first)
kept = libc.mallinfo2().fordblks >= 1024 * 1024
second = libc.malloc(1024 * 1024)
print(was_mapped, kept, second == first)
libc.free(second)
"""


def probe(mode: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_1_mib_buffer_comes_from_the_heap_which_keeps_it_for_the_next():
    assert probe("tuned") == ["False", "True", "True"]


def test_left_to_glibc_the_first_is_mapped_and_given_back():
    assert probe("default") == ["True", "False", "False"]
