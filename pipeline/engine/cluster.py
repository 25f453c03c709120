"""The cluster as jobs see it: join or start it, run plain functions on it as tasks, warm it up for a measurement.

Jobs schedule every piece of Ray work through the engine: shard jobs through :mod:`pipeline.engine.driver`, and
the small per-shard or per-partition steps of their own (a nightly diff, say) through :func:`run_tasks`. Only
:mod:`pipeline.engine.ray_pool` imports Ray; this module imports it lazily, so a job's import stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.config import ExecutionConfig


def start(execution: ExecutionConfig, say: Callable[[str], None] | None = None) -> None:
    """Join the cluster ``execution.address`` names (saying which), or start a private local Ray on 127.0.0.1."""
    from pipeline.engine.ray_pool import connect

    connect(execution, say)


def run_tasks(function: Callable[..., Any], calls: list[dict[str, Any]], execution: ExecutionConfig) -> list[Any]:
    """``function(**call)`` for every call, one Ray task each (``cpus_per_task`` CPUs); the results in order.

    For steps with a handful of calls and small results. A task lost with its worker is retried, so ``function``
    must be safe to run twice (write files atomically, by name).
    """
    from pipeline.engine.ray_pool import connect, map_tasks

    connect(execution)
    return map_tasks(function, calls, execution)


def warm_up(execution: ExecutionConfig) -> None:
    """Start the cluster and Ray Data's own actors, so that a measurement that follows leaves start-up out."""
    from pipeline.engine.ray_pool import connect
    from pipeline.engine.ray_pool import warm_up as warm_up_ray_data

    connect(execution)
    warm_up_ray_data()
