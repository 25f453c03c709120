"""The ``translate_corpus`` job (``irp translate_corpus``): a corpus into other models' spaces through anchors."""

from pipeline.jobs.translate_corpus.anchors import anchor_folder
from pipeline.jobs.translate_corpus.config import AnchorsConfig, TargetConfig, TranslateConfig
from pipeline.jobs.translate_corpus.job import main, plan_target, run, run_translate

__all__ = [
    "AnchorsConfig",
    "TargetConfig",
    "TranslateConfig",
    "anchor_folder",
    "main",
    "plan_target",
    "run",
    "run_translate",
]
