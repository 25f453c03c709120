"""`irp translate`: translate a corpus into another model's space through shared anchors, as Parquet."""

from __future__ import annotations

import sys

from pipeline.cli import run_configured_job
from pipeline.config import TranslateConfig


def main(argv: list[str] | None = None) -> int:
    from pipeline.translate_job import run_translate

    return run_configured_job(argv, "irp translate", __doc__.splitlines()[0], TranslateConfig,
                              lambda config: run_translate(config).lines())


if __name__ == "__main__":
    sys.exit(main())
