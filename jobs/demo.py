"""`make demo`: migrate a BBC News vector store from MiniLM-L6 to mpnet on a local Ray, offline, and score it."""

from __future__ import annotations

import sys

from pipeline.cli import run_configured_job
from pipeline.config import DemoConfig


def main(argv: list[str] | None = None) -> int:
    from pipeline.demo import run

    return run_configured_job(argv, "irp demo", __doc__.splitlines()[0], DemoConfig, run)


if __name__ == "__main__":
    sys.exit(main())
