"""Where a planted credential must never be found: a job's own output, every file under a folder, and Ray's logs
of the sessions a job started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RAY_SESSIONS = Path("/tmp/ray")


def files_holding(root: Path, needles: tuple[str, ...]) -> list[str]:
    """Every file under ``root`` whose bytes contain one of ``needles``, as ``path: needle``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {needle}" for needle in needles if needle.encode() in data]
    return found


def ray_logs_holding(since: float, needles: tuple[str, ...]) -> list[str]:
    """The same, over the logs of every Ray session started at or after ``since`` (a ``time.time()``); at least
    one such session must exist, or the check would pass for want of logs."""
    sessions = [p for p in RAY_SESSIONS.glob("session_2*") if p.stat().st_mtime >= since - 1]
    assert sessions, "the job's own Ray session logs were not found"
    return [hit for session in sessions for hit in files_holding(session / "logs", needles)]


def run_job(module: str, config: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``python -m jobs.<module> --config <config> [overrides]``, as a user runs it; stdout and stderr kept."""
    return subprocess.run(
        [sys.executable, "-m", f"jobs.{module}", "--config", str(config), *overrides], capture_output=True, text=True
    )


def shown(ran: subprocess.CompletedProcess, needles: tuple[str, ...]) -> list[str]:
    """The needles a job printed, on stdout or stderr."""
    return [needle for needle in needles if needle in ran.stdout + ran.stderr]
