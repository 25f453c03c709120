"""The ``irp`` command: ``irp <job> [args ...]`` runs ``pipeline.jobs.<job>.main``, as ``python -m jobs.<job>``."""

from __future__ import annotations

import importlib
import sys

from pipeline.jobs import JOBS

# Short names users type; each maps to a job module.
ALIASES = {"translate": "translate_corpus", "sync": "reembed_nightly"}


def list_jobs() -> list[str]:
    """Job names accepted by ``irp`` (aliases included)."""
    return sorted({*JOBS, *(alias for alias, job in ALIASES.items() if job in JOBS)})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: irp <job> [args ...]\njobs: {', '.join(list_jobs())}\n`irp <job> --help` for a job's options")
        return 0 if argv else 2
    job, rest = ALIASES.get(argv[0], argv[0]), argv[1:]
    if job not in JOBS:
        print(f"irp: unknown job {argv[0]!r}; choose from {', '.join(list_jobs())}", file=sys.stderr)
        return 2
    # Imported on use, so `irp --help` does not pay for torch, transformers and Ray.
    return importlib.import_module(f"pipeline.jobs.{job}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
