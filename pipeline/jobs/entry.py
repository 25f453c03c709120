"""What every job's ``main`` does: parse ``--config FILE key.sub=value ...``, load and check the config before
anything starts, run the job, print its summary. Shared by ``python -m jobs.<name>`` and ``irp <name>``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

Config = TypeVar("Config")


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
    argv: Sequence[str] | None,
    name: str,
    description: str,
    schema: type[Config],
    run: Callable[[Config], Sequence[str]],
) -> int:
    """Parse argv, load and check the config, run, print the summary lines.

    Args:
        argv: the job's arguments (``sys.argv[1:]`` when None).
        name: the job's name, as in ``irp <name>``.
        description: one line for ``--help``.
        schema: the job's config dataclass.
        run: the job's ``run(config)``, returning its summary lines.

    Returns:
        0 on success, 1 when shards failed (the others are written; a rerun does only those) or the job stopped
        on an error it explains (no input files, a store to upgrade, ...: one line, no traceback, unless
        ``IRP_TRACEBACK=1``), 2 for an invalid config (every problem printed, nothing started).
    """
    from pipeline.config import ConfigError, load_config
    from pipeline.engine.summary import ShardsFailed

    path, overrides = job_arguments(f"irp {name}", description, argv)
    try:
        config = load_config(schema, path, overrides)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    try:
        lines = run(config)
    except ShardsFailed as e:
        print("\n".join(e.summary.lines()))
        print(f"irp {name}: {e}; fix their inputs and rerun to do only those shards", file=sys.stderr)
        return 1
    except (ValueError, LookupError, OSError) as e:  # the job's own refusals say what is wrong in their message
        if os.environ.get("IRP_TRACEBACK") == "1":
            raise
        print(f"irp {name}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0
