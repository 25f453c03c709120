"""The ``sync`` job's config (``irp sync``): tonight's export, the store it keeps in step, the model."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pipeline.config import ExecutionConfig, OutputConfig, SourceConfig, overlap_problems
from pipeline.encoders import EncoderConfig
from pipeline.translate.config import TranslatorConfig


@dataclasses.dataclass(frozen=True)
class UpgradeConfig:
    """How a run moves a store made by another model into the encoder's space, without re-embedding it.

    Attributes:
        anchors: unchanged store rows the new model embeds (spread over the corpus by a hash of their id); the
            translator is fitted from their stored and new vectors.
        translator: the estimator (``auto`` chooses by cross-validation on those anchors).
    """

    anchors: int = 1000
    translator: TranslatorConfig = dataclasses.field(default_factory=TranslatorConfig)

    def problems(self) -> list[str]:
        return [] if self.anchors >= 10 else ["anchors: must be >= 10 (the translator is cross-validated on them)"]


@dataclasses.dataclass(frozen=True)
class BackfillConfig:
    """Replacing translated vectors with native ones, a budget per run.

    Attributes:
        rows_per_run: translated rows each run re-encodes with the store's model (unchanged ones; new and changed
            rows are always encoded natively anyway), oldest first; 0 turns backfilling off.
    """

    rows_per_run: int = 0

    def problems(self) -> list[str]:
        return [] if self.rows_per_run >= 0 else ["rows_per_run: must be >= 0"]


@dataclasses.dataclass(frozen=True)
class SyncConfig:
    """One night's run.

    Attributes:
        source: tonight's export: ids and the text or images to embed.
        mode: ``full``: the export is the whole corpus, and store ids missing from it are deleted; ``changes``:
            the export holds only changed rows, and rows whose ``op_column`` says ``delete`` are deleted.
        op_column: in ``changes`` mode, the column that says ``upsert`` or ``delete``.
        encoder: the model the store's vectors come from.
        store: the table kept in step (``format`` parquet, delta, lancedb or pgvector) and its index.
        partitions: the diff runs as this many tasks, each over the ids of one partition (a CRC-32 of the id), so
            no process holds every id of a large corpus.
        upgrade: lets a run whose encoder differs from the store's space translate the whole store into the new
            space (one version), instead of refusing; None refuses, so a changed encoder never rewrites a store
            by accident.
        backfill: how many translated rows each run replaces with native ones.
        report: a path for the run summary as JSON (optional).
        execution: how the run uses Ray.
    """

    source: SourceConfig
    encoder: EncoderConfig
    store: OutputConfig
    mode: Literal["full", "changes"] = "full"
    op_column: str = "op"
    partitions: int = 16
    upgrade: UpgradeConfig | None = None
    backfill: BackfillConfig = dataclasses.field(default_factory=BackfillConfig)
    report: str | None = None
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)

    def problems(self) -> list[str]:
        found = []
        if self.source.modality == "vector":
            found.append("source: a nightly run embeds its rows; name a text_column or image_column")
        if self.source.content_hash_column:
            found.append("source.content_hash_column: the run hashes the content itself; drop it")
        found += overlap_problems(self.source.place, {"store": self.store.place})
        return found + ([] if self.partitions >= 1 else ["partitions: must be >= 1"])
