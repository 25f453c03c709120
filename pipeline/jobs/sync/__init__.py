"""The ``sync`` job (``irp sync``, ``python -m jobs.sync``; ``jobs/reembed_nightly.py`` is the same entry point
under the nightly job's submitted name): keep a store in step with tonight's export, encoding only what changed.

- ``config``: the job's schema; ``job``: one night, end to end;
- ``scan`` (hash, diff, pick), ``changes`` (encode what changed, merge it), ``upgrade`` (a model change by
  translation): the steps of a night; ``stages``: the tasks they run on the cluster;
- ``diff``, ``sample``: the pure parts (which rows changed; a spread-out pick of rows), no IO;
- ``summary``: what a night did, as printed and as its JSON report.
"""

from pipeline.jobs.sync.config import BackfillConfig, SyncConfig, UpgradeConfig
from pipeline.jobs.sync.job import RUNS_DIR, main, run, run_id, run_sync

__all__ = ["RUNS_DIR", "BackfillConfig", "SyncConfig", "UpgradeConfig", "main", "run", "run_id", "run_sync"]
