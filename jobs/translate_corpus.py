"""`irp translate`: translate a corpus into another model's space through shared anchors, as Parquet."""

from __future__ import annotations

import sys

from pipeline.cli import job_arguments
from pipeline.config import ConfigError, TranslateConfig, load_config


def main(argv: list[str] | None = None) -> int:
    path, overrides = job_arguments("irp translate", __doc__.splitlines()[0], argv)
    try:
        config = load_config(TranslateConfig, path, overrides)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    from pipeline.runner import run_translate

    summary = run_translate(config)
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
