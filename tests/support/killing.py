"""Kill a job part-way, the hard way: SIGKILL its driver and every process it started, once some shards are in."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path


def kill_session(session_id: int) -> None:
    """SIGKILL every process of a session (the driver started it with ``start_new_session``)."""
    listing = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        pid, sid = map(int, line.split())
        if sid == session_id:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def kill_after_shards(command: list[str], shards: Path, at_least: int = 3, env: Mapping[str, str] | None = None) -> int:
    """Start ``command``, kill its whole session once ``shards`` holds ``at_least`` shard records, and return
    how many it held then.

    Ray's workers run in process groups of their own, so the whole session is killed: an orphaned actor could
    finish a shard afterwards. Records are counted as the job does (``part-*.json``, not the hidden temporary
    a kill can leave).
    """
    with tempfile.TemporaryFile() as said:
        victim = subprocess.Popen(
            command,
            env=None if env is None else dict(env),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=said,
        )
        deadline = time.monotonic() + 300
        while (
            len(list(shards.glob("part-*.json"))) < at_least and victim.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        ended_by_itself = victim.poll()
        kill_session(victim.pid)
        victim.wait()
        said.seek(0)
        # A job that ended before it could be killed (or never got going) leaves the test nothing to check: say why.
        assert ended_by_itself is None, f"the job ended by itself (exit {ended_by_itself}): {said.read()[-3000:]!r}"
        assert time.monotonic() < deadline, f"no {at_least} shards in 300 s: {said.read()[-3000:]!r}"
    return len(list(shards.glob("part-*.json")))
