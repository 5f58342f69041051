"""Keeping the memory NumPy frees for the next step's arrays (glibc's malloc).

A training step allocates the same large arrays step after step: layer
outputs, masks, unfolded inputs, gradients, megabytes each. glibc's malloc
hands freed memory back to the kernel: blocks above its mmap threshold (which
starts at 128 KiB and rises with the blocks freed, up to 32 MiB) and the free
top of its heap beyond its trim threshold (twice the mmap threshold). The next
step's arrays are then new memory, which the kernel maps and zeroes page by
page as it is first written. keep_freed_memory() fixes the mmap threshold at
32 MiB from the start and stops the trimming, so that freed blocks stay in the
process and the next arrays reuse them.

Blocks of 32 MiB and more (a convolution's workspace, which the layer keeps
from step to step anyway) are still mapped apart: moved onto the heap as well
(a threshold of 1 GiB), they made the float64 DeepConvNet step slower, not
faster (in the bench, book-style / NumPy 2.74-2.82 against 3.09-3.24).

Measured on 2 cores (AMD EPYC, glibc 2.36): a process training the NumPy
DeepConvNet in float32 (batch 100, Adam) took 99-128 ms a step with it and
126-172 ms without (processes alternating); four rounds of allocating and freeing four 24 MB arrays page-faulted
1,943 times a round without it and not at all with it. The price: the process
keeps the memory of its largest step, which training needs again at the next
step anyway.
"""
import ctypes
import platform
from contextlib import contextmanager

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_ABOVE = 32 << 20  # bytes: blocks this large or larger are mapped apart (and unmapped when freed)
TRIM_ABOVE = 2 ** 31 - 1  # bytes of free heap top kept (mallopt takes an int)
GLIBC_MMAP_THRESHOLD = 128 << 10  # glibc's initial thresholds: mmap at 128 KiB, trim at twice that
GLIBC_TRIM_THRESHOLD = 256 << 10
_asked_for = False  # whether keep_freed_memory() was called: then the process keeps freed memory for good


def _libc():
    """glibc's C library, or None (macOS, Windows, musl)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(None)


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for the next allocations, for the whole process, from now on.

    Returns True where it is set (Linux with glibc), False elsewhere (macOS, Windows, musl), where it
    changes nothing. The commands that own their process (`python -m experiments`, `python -m numpy_impl.book`,
    `python -m parity`, the bench) call it; call it before a training loop of your own to get the same
    speed. The Trainers, a library's calls, use freed_memory_kept() instead, which gives the setting back."""
    global _asked_for
    kept = _set_thresholds()
    _asked_for = _asked_for or kept
    return kept


@contextmanager
def freed_memory_kept():
    """Within: freed memory kept as keep_freed_memory() keeps it; after: glibc's initial thresholds again and the
    freed memory given back to the kernel (malloc_trim), unless the process asked for keep_freed_memory()
    itself. glibc cannot switch its dynamic thresholds back on: they stay at their initial values, which
    glibc's own would only raise. Yields whether the setting took."""
    if _asked_for:
        yield True
        return
    kept = _set_thresholds()
    try:
        yield kept
    finally:
        if kept:
            libc = _libc()
            libc.mallopt(M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD)
            libc.malloc_trim(0)


def _set_thresholds() -> bool:
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    # the mmap threshold first, and the trim threshold only if that took: setting either switches glibc's
    # dynamic thresholds off, and the trim threshold alone left every block above 128 KiB mapped apart (the
    # DeepConvNet float32 step then took 250 ms)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_ABOVE)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_ABOVE))
