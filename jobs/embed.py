"""`irp embed`: encode a table's texts or images into an embedding table, for corpora and anchor sets alike."""

from __future__ import annotations

import sys

from pipeline.cli import run_configured_job
from pipeline.config import EmbedConfig


def main(argv: list[str] | None = None) -> int:
    from pipeline.runner import run_embed

    return run_configured_job(argv, "irp embed", __doc__.splitlines()[0], EmbedConfig,
                              lambda config: run_embed(config).lines())


if __name__ == "__main__":
    sys.exit(main())
