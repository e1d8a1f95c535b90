"""Keep the C heap from holding on to freed tensor memory (glibc only).

Length-grouped batches allocate tensors of a different shape every step. glibc's malloc raises
its mmap threshold dynamically after large blocks are freed, after which those blocks come from
the heap and are rarely returned: a BASRec training process on Beauty grew by about 9 MB per
step (2.5 GB after 4 epochs) without any leak in Python or torch. A fixed mmap threshold and a
``malloc_trim`` every 16 steps bound it. The threshold is 16 MiB: at 1 MiB (the first choice)
every batch-sized tensor was a fresh mmap whose pages the kernel zeroes, and half of a training
process's CPU time went to the kernel (system 7.3 s of 14.8 s over 44 BASRec steps, against
0.6 s of 7.9 s at 16 MiB; ``lab/benchmarks/bench_memory.py``, docs/performance.md). Over four
Beauty epochs (SASRec, n_pairs 2, n_whole_level 3) the peak is then 1.07 GB and flat.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def limit_heap_growth(mmap_threshold: int = 16 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Serve blocks ≥ ``mmap_threshold`` bytes by mmap (returned to the system when freed) and
    trim the heap above ``trim_threshold``. Returns False where it does not apply."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    return bool(mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and ok)


_LIBC: ctypes.CDLL | None = None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc ``malloc_trim``); cheap, call often."""
    global _LIBC
    if not sys.platform.startswith("linux"):
        return
    if _LIBC is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return
        _LIBC = ctypes.CDLL(name)
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)
