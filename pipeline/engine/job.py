"""What a shard job ships to its stages (:class:`ShardJob`), and what each chunk reports back (:class:`ShardResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import EncoderConfig, SourceConfig
from pipeline.io.sink import OutputDir
from pipeline.io.store_sink import open_output
from pipeline.io.stores import IndexSpec, StoreRef
from pipeline.translate import FittedTranslator


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
class ShardOutput:
    """One table every shard is written into.

    Attributes:
        url, storage_options: the output directory (for a store, its records folder) and its fsspec options.
        provenance: JSON facts written into every part's metadata.
        translator: applied after encoding (its fused plan, one matmul per chunk); None writes the vectors as
            they are. Shipped with the job, so every actor holds it once, wherever the actor runs.
        store, run, index: the store table the rows are staged in and published to, the job's staging id, and
            the index it is published with; no store for a Parquet directory.
        content_hash: give a Parquet output the rows' ``content_hash`` too (a store's rows always carry it).
        row_facts: constant text columns every row gets (a nightly store's ``space``, ``origin``, ``run``).
    """

    url: str
    storage_options: Mapping[str, Any]
    provenance: Mapping[str, Any]
    translator: FittedTranslator | None = None
    store: StoreRef | None = None
    run: str = ""
    index: IndexSpec | None = None
    content_hash: bool = False
    row_facts: Mapping[str, str] = field(default_factory=dict)

    @property
    def hashed(self) -> bool:
        """Whether its rows carry ``content_hash``."""
        return self.store is not None or self.content_hash

    def open(self) -> OutputDir:
        """Where the write stage puts this output's parts (or stages its rows) and records."""
        return open_output(self.url, self.storage_options, self.store, self.run, self.index)


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
        repeats: the records folder where the job's repeated ids were found (:mod:`pipeline.engine.duplicates`);
            the prepare stage quarantines the later occurrences. None when the job does not look.
    """

    source: SourceConfig
    outputs: tuple[ShardOutput, ...]
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
