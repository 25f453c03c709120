"""The ``demo`` job's config: which packaged models, how many anchor and held-out articles, where the tables go."""

from __future__ import annotations

import dataclasses

from pipeline.config import ExecutionConfig
from pipeline.packaged import list_packaged_models
from pipeline.translate.config import TranslatorConfig


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The ``demo`` job: migrate BBC News embedded by one packaged model into another's space, and score it.

    Attributes:
        source_model, target_model: packaged model names (``pipeline.packaged.list_packaged_models()``).
        anchors: training articles the target model embeds as anchors (they also train its decoder).
        test: held-out articles the translated vectors are scored on.
        target_max_length: tokens per article for the target model (mpnet's own 384 takes ~15 min on 2 cores).
        seed: seeds the split.
        translator: the estimator of the translate job.
        output: directory that receives every table of the demo (a LanceDB database under ``lancedb/``).
        execution: how the jobs run on the embedded local Ray.
    """

    source_model: str = "all-MiniLM-L6-v2"
    target_model: str = "all-mpnet-base-v2"
    anchors: int = 500
    test: int = 400
    target_max_length: int = 128
    seed: int = 0
    translator: TranslatorConfig = dataclasses.field(default_factory=TranslatorConfig)
    output: str = "out/demo"
    execution: ExecutionConfig = dataclasses.field(default_factory=lambda: ExecutionConfig(actors=2))

    def problems(self) -> list[str]:
        found = [
            f"{key}: {getattr(self, key)!r} is not a packaged model; choose from {list_packaged_models()}"
            for key in ("source_model", "target_model")
            if getattr(self, key) not in list_packaged_models()
        ]
        # The held-out articles become a LanceDB table with an IVF-PQ index, which trains on at least 256 rows.
        lows = (("anchors", 3), ("test", 256), ("target_max_length", 8))
        return found + [f"{key}: must be >= {low}" for key, low in lows if getattr(self, key) < low]
