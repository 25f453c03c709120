"""`irp evaluate`: every estimator, both directions, on a labelled set in two spaces; Markdown, plots and JSON."""

from __future__ import annotations

import sys

from pipeline.cli import run_configured_job
from pipeline.config import EvaluateConfig


def main(argv: list[str] | None = None) -> int:
    from pipeline.evaluate_job import run

    return run_configured_job(argv, "irp evaluate", __doc__.splitlines()[0], EvaluateConfig, run)


if __name__ == "__main__":
    sys.exit(main())
