"""The ``irp`` command: ``irp <job> [args ...]`` runs ``pipeline.jobs.<job>.main``, as ``python -m jobs.<job>``."""

from __future__ import annotations

import importlib
import sys

from pipeline.jobs import JOBS

# Other names users type for a job.
ALIASES = {"translate": "translate_corpus", "reembed_nightly": "sync"}


def list_jobs() -> list[str]:
    """Job names accepted by ``irp`` (aliases included)."""
    return sorted({*JOBS, *ALIASES})


def usage() -> str:
    width = max(map(len, JOBS))
    lines = [f"  {name:<{width}}  {line}" for name, line in JOBS.items()]
    aliases = ", ".join(f"{alias} = {job}" for alias, job in ALIASES.items())
    return "\n".join(
        [
            "usage: irp <job> --config FILE [key.sub=value ...]",
            "",
            "jobs:",
            *lines,
            "",
            f"aliases: {aliases}",
            "`irp <job> --help` for a job's options",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    job, rest = ALIASES.get(argv[0], argv[0]), argv[1:]
    if job not in JOBS:
        print(f"irp: unknown job {argv[0]!r}; choose from {', '.join(list_jobs())}", file=sys.stderr)
        return 2
    # Imported on use, so `irp --help` does not pay for torch, transformers and Ray.
    return int(importlib.import_module(f"pipeline.jobs.{job}").main(rest))


if __name__ == "__main__":
    sys.exit(main())
