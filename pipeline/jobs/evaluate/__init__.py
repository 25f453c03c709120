"""The ``evaluate`` job (``irp evaluate``): every estimator, both directions, on a labeled set; the published
quality report.

- ``config``: the job's schema; ``job``: gather both spaces, run the protocol both ways, write the report;
- ``protocol``: the evaluation plan on in-memory embeddings: estimators, draws, sweeps (pure, no IO);
- ``retrieval``: a migrated index scored as it is searched;
- ``report``: the report's tables, plots and JSON.
"""

from pipeline.jobs.evaluate.config import EvalSpaceConfig, EvaluateConfig, LabelsConfig, RetrievalSetConfig
from pipeline.jobs.evaluate.job import main, run

__all__ = ["EvalSpaceConfig", "EvaluateConfig", "LabelsConfig", "RetrievalSetConfig", "main", "run"]
