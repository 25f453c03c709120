"""Facts about, and care of, the process a stage runs in: which one it is, its peak memory, freed memory back."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
from typing import Any

import pyarrow as pa


def process_info() -> dict[str, Any]:
    """Which process and device did the work (proves actor pinning), and the process's peak memory so far."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "peak_rss_mb": round(peak_kib / 1024, 1),
    }


def release_memory() -> None:
    """Hand a finished chunk's freed memory back, so a process's peak stays at one chunk's worth rather than
    creeping up over the many chunks of a big file: Arrow's pool and glibc's heap both keep freed blocks."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def quiet_model_loading() -> None:
    """Silence transformers' per-process "Loading weights" bars: the job prints its own progress."""
    try:
        import transformers
    except ImportError:
        return
    transformers.utils.logging.disable_progress_bar()
