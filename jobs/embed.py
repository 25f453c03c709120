"""`irp embed`: encode a table's texts or images into an embedding table, for corpora and anchor sets alike."""

from __future__ import annotations

import sys

from pipeline.cli import job_arguments
from pipeline.config import ConfigError, EmbedConfig, load_config


def main(argv: list[str] | None = None) -> int:
    path, overrides = job_arguments("irp embed", __doc__.splitlines()[0], argv)
    try:
        config = load_config(EmbedConfig, path, overrides)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    from pipeline.runner import run_embed

    summary = run_embed(config)
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
