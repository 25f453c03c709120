"""The ``reembed_nightly`` job's config (``irp sync``): tonight's export, the store it keeps in step, the model."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pipeline.config.blocks import EncoderConfig, ExecutionConfig, OutputConfig, SourceConfig


@dataclasses.dataclass(frozen=True)
class SyncConfig:
    """One night's run.

    Attributes:
        source: tonight's export: ids and the text or images to embed.
        mode: ``full``: the export is the whole corpus, and store ids missing from it are deleted; ``changes``:
            the export holds only changed rows, and rows whose ``op_column`` says ``delete`` are deleted.
        op_column: in ``changes`` mode, the column that says ``upsert`` or ``delete``.
        encoder: the model the store's vectors come from.
        store: the store table (``format`` delta, lancedb or pgvector) and its index.
        partitions: the diff runs as this many tasks, each over the ids of one partition (a CRC-32 of the id), so
            no process holds every id of a large corpus.
        report: a path for the run summary as JSON (optional).
        execution: how the run uses Ray.
    """

    source: SourceConfig
    encoder: EncoderConfig
    store: OutputConfig
    mode: Literal["full", "changes"] = "full"
    op_column: str = "op"
    partitions: int = 16
    report: str | None = None
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)

    def problems(self) -> list[str]:
        found = [] if self.store.store is not None else [
            "store.format: a nightly run keeps a store in step: delta, lancedb or pgvector"]
        if self.source.modality == "vector":
            found.append("source: a nightly run embeds its rows; name a text_column or image_column")
        if self.source.content_hash_column:
            found.append("source.content_hash_column: the run hashes the content itself; drop it")
        return found + ([] if self.partitions >= 1 else ["partitions: must be >= 1"])
