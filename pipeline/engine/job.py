"""What a shard job ships to its stages (:class:`ShardJob`), and what each chunk reports back (:class:`ShardResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.io.output import Output


@dataclass(frozen=True)
class ShardResult:
    """What one shard produced, for the job summary and the manifest."""

    shard: str
    rows_in: int
    rows_out: int
    rows_quarantined: int
    seconds: Mapping[str, float]
    worker: Mapping[str, Any] = field(default_factory=dict)
    failed: str | None = None  # why the shard's input could not be read; nothing was written for it


@dataclass(frozen=True)
class ShardJob:
    """Everything the stages need, small enough to ship to every task and actor.

    Attributes:
        source: where rows come from and which column holds the content.
        outputs: the tables each shard is written into (one per target space, plus the source space if asked).
        encoder: how to embed the content: a model, or ``precomputed`` for stored vectors.
        batch_size: images per encoder call (text encoders plan their own token-budget batches).
        keep_ids: a folder of Parquet files whose ``id`` rows (with ``action`` ``encode``, when it has that
            column) are the only source rows to read; None reads every row. A nightly run encodes only the new
            and changed rows this way.
        repeats: the scratch folder where the job's repeated ids were found (:mod:`pipeline.engine.duplicates`);
            the prepare stage quarantines the later occurrences. None when the job does not look.
    """

    source: SourceConfig
    outputs: tuple[Output, ...]
    encoder: EncoderConfig
    batch_size: int = 64
    keep_ids: str | None = None
    repeats: str | None = None

    @property
    def with_hashes(self) -> bool:
        """Whether rows carry a ``content_hash``: store rows do, so later runs can upsert only changed ones."""
        return any(output.hashed for output in self.outputs)

    @property
    def source_dim(self) -> int | None:
        """The vector width every translator expects, when any output translates."""
        return next((o.translator.source_dim for o in self.outputs if o.translator is not None), None)
