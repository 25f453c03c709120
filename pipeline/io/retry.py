"""Retry storage calls that fail for a moment: a dropped connection, a throttled request, a timeout.

Errors that stay the same on a second try (a corrupt Parquet file, a missing column, a bad value) are not
retried: they fail their shard at once, with the reason, so a rerun after the fix does only that shard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# What a flaky filesystem raises (fsspec backends raise OSError subclasses: ConnectionError, TimeoutError, ...).
# FileNotFoundError and PermissionError are OSErrors too, but they do not heal by waiting.
TRANSIENT: tuple[type[BaseException], ...] = (OSError,)
LASTING: tuple[type[BaseException], ...] = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def with_retries(call: Callable[[], T], attempts: int = 3, first_wait_s: float = 0.5) -> T:
    """``call()``, tried up to ``attempts`` times while it raises a transient error, waiting 0.5 s, 1 s, ...

    Raises:
        The last error, once the attempts are used up, or at once when it is not transient.
    """
    for attempt in range(attempts):
        try:
            return call()
        except LASTING:
            raise
        except TRANSIENT:
            if attempt == attempts - 1:
                raise
            time.sleep(first_wait_s * 2**attempt)
    raise AssertionError("unreachable: attempts must be >= 1")
