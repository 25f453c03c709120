"""Storage calls are retried while they fail for a moment, and never when the failure would repeat."""

from __future__ import annotations

import pytest

from pipeline.io.retry import with_retries


def _failing(errors: list[BaseException]):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "done"

    return call, calls


def test_a_dropped_connection_is_retried_until_the_call_succeeds() -> None:
    call, calls = _failing([ConnectionResetError("reset"), TimeoutError("slow")])
    assert with_retries(call, attempts=3, first_wait_s=0) == "done" and len(calls) == 3


def test_the_last_transient_error_is_raised_when_the_attempts_run_out() -> None:
    call, calls = _failing([OSError("a"), OSError("b"), OSError("c")])
    with pytest.raises(OSError, match="c"):
        with_retries(call, attempts=3, first_wait_s=0)
    assert len(calls) == 3


@pytest.mark.parametrize("error", [FileNotFoundError("gone"), PermissionError("no"), ValueError("corrupt")])
def test_failures_that_would_repeat_are_raised_at_once(error: BaseException) -> None:
    call, calls = _failing([error])
    with pytest.raises(type(error)):
        with_retries(call, attempts=3, first_wait_s=0)
    assert len(calls) == 1
