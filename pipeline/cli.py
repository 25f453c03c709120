"""The ``irp`` command: ``irp <job> [args ...]`` runs the same ``main`` as ``python -m jobs.<job>``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any


def _benchmark(argv: list[str]) -> int:
    from jobs.benchmark import main

    return main(argv)


def _demo(argv: list[str]) -> int:
    from jobs.demo import main

    return main(argv)


def _embed(argv: list[str]) -> int:
    from jobs.embed import main

    return main(argv)


def _evaluate(argv: list[str]) -> int:
    from jobs.evaluate import main

    return main(argv)


def _translate_corpus(argv: list[str]) -> int:
    from jobs.translate_corpus import main

    return main(argv)


# Imported on use, so `irp --help` does not pay for torch, transformers and Ray.
JOBS: dict[str, Callable[[list[str]], int]] = {
    "benchmark": _benchmark,
    "demo": _demo,
    "embed": _embed,
    "evaluate": _evaluate,
    "translate": _translate_corpus,
    "translate_corpus": _translate_corpus,
}


def job_arguments(prog: str, description: str, argv: Sequence[str] | None) -> tuple[str | None, list[str]]:
    """The argv every job takes: ``--config FILE`` and then ``key.sub=value`` overrides.

    Returns:
        (config path or None for the job's defaults, the overrides in order).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", metavar="FILE", help="YAML job config (see configs/); defaults when omitted")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override config values")
    args = parser.parse_args(argv)
    return args.config, args.overrides


def run_configured_job(
    argv: Sequence[str] | None, prog: str, description: str, schema: type, run: Callable[[Any], Sequence[str]]
) -> int:
    """What every job's ``main`` does: parse argv, load and check the config, run, print the summary lines.

    Returns:
        0 on success, 2 for an invalid config (every problem printed, nothing started).
    """
    from pipeline.config import ConfigError, load_config

    path, overrides = job_arguments(prog, description, argv)
    try:
        config = load_config(schema, path, overrides)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    for line in run(config):
        print(line)
    return 0


def list_jobs() -> list[str]:
    """Job names accepted by ``irp``."""
    return sorted(JOBS)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: irp <job> [args ...]\njobs: {', '.join(list_jobs())}\n`irp <job> --help` for a job's options")
        return 0 if argv else 2
    job, rest = argv[0], argv[1:]
    if job not in JOBS:
        print(f"irp: unknown job {job!r}; choose from {', '.join(list_jobs())}", file=sys.stderr)
        return 2
    return JOBS[job](rest)


if __name__ == "__main__":
    sys.exit(main())
