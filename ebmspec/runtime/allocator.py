"""Process set-up for sampling and training on the host: the C allocator's thresholds.

In: nothing. Out: glibc's malloc told to keep freed memory (no effect elsewhere).
"""

from __future__ import annotations

import sys


def tune_allocator() -> None:
    """Keep freed tensor memory in the process (glibc): the sampling loop allocates and frees
    the same large blocks every step, and returning them to the OS each time costs ~40 %."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 36 if sys.maxsize > 2**32 else 1 << 30)
    libc.mallopt(m_top_pad, 1 << 30)
