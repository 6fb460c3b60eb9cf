"""Freed memory kept for the next job when the model runs on the CPU.

By default glibc's malloc gives each large block (above 128 KiB to 32 MiB, adjusted as it goes) its own mmap, and
unmaps it when it is freed. The VAE's activations are such blocks (a 512x512 decode: 64 and 128 MiB each), so every
encode and decode maps fresh memory and page-faults each of its 4 KiB pages again: about 250,000 faults a job at
512x512. Taking every block from the heap instead, and keeping what is freed at its top (up to 2 GiB), lets the next
job reuse the same pages: the same arithmetic, the same pictures, without the faults (the README's "Benchmarks" has
the times). The process keeps its peak memory in hand, as PyTorch's CUDA caching allocator does on a GPU.

This only applies to glibc (Linux), and only where the user has not tuned malloc through glibc's own environment
variables (`MALLOC_MMAP_MAX_`, `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`, `GLIBC_TUNABLES`): to get glibc's
default behaviour back, start the app with `MALLOC_MMAP_MAX_=65536`.
"""
from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt's parameters (malloc.h)
KEEP_AT_TOP = 2**31 - 1  # bytes freed at the heap's top that stay mapped (mallopt takes an int)
USER_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")

_applied = False


def keep_freed_memory() -> bool:
    """Have malloc serve large blocks from the heap and keep freed ones for reuse (once per process). False where
    it does not apply: not glibc, or malloc tuned by the user."""
    global _applied
    if _applied:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    libc = ctypes.CDLL("libc.so.6")
    if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, KEEP_AT_TOP)):
        log.warning("mallopt refused the settings: large CPU blocks stay mapped and unmapped per use")
        return False
    _applied = True
    return True
