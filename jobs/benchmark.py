"""`irp benchmark`: our jobs against bare baselines on the same data in the same run; ratios, JSON and Markdown."""

from __future__ import annotations

import sys

from pipeline.cli import run_configured_job
from pipeline.config import BenchmarkConfig


def main(argv: list[str] | None = None) -> int:
    from pipeline.benchmark import run

    return run_configured_job(argv, "irp benchmark", __doc__.splitlines()[0], BenchmarkConfig, run)


if __name__ == "__main__":
    sys.exit(main())
