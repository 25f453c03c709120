"""The prepare stage, on a CPU: read one shard chunk, set bad rows aside, and make the model's input.

In a job it runs as Ray Data tasks on the CPUs of the node, in parallel with the encoding actors, so the process
that holds the GPU runs the model and the fused translation only. What it makes for the model:

- texts of an encoder with a model-free tokenizer (``hf_text``): token rows, unpadded (the actor plans its
  length-bucketed, token-budget batches from their lengths, a vectorized step);
- texts of other encoders: the checked texts;
- images: decoded, checked RGB images (decoding is where a corrupt file shows itself);
- stored vectors: a checked float32 matrix.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import SourceConfig
from pipeline.encoders import EncoderConfig, Tokenizer, build_tokenizer, resolve_model_options
from pipeline.engine import quarantine
from pipeline.engine.chunks import PreparedChunk, failed_chunk
from pipeline.engine.duplicates import repeated_rows
from pipeline.engine.process import process_info, release_memory
from pipeline.io.folder import Folder
from pipeline.io.ranges import unreadable_records
from pipeline.io.retry import with_retries
from pipeline.io.sources import Shard, read_source
from pipeline.io.stores import content_hashes


@dataclass(frozen=True)
class ChunkPreparer:
    """Prepares chunks of one source for one encoder; holds no model, so it is cheap to ship to every task.

    Attributes:
        source: where rows come from and which column holds the content.
        encoder: the encoder block (its tokenizer is loaded once per process, on first use).
        source_dim: the width stored vectors must have, when the job translates them.
        with_hashes: give every row its content hash (the source's ``content_hash_column``, or a digest of its
            content), for outputs that are stores.
        keep_ids: read only the rows whose ids are listed there (``ShardJob.keep_ids``); None reads all.
        repeats: where the job's ids repeated across shards were found (``ShardJob.repeats``); None to not look.
    """

    source: SourceConfig
    encoder: EncoderConfig
    source_dim: int | None = None
    with_hashes: bool = False
    keep_ids: str | None = None
    repeats: str | None = None

    def __call__(self, shard: Shard) -> PreparedChunk:
        source = self.source
        started = time.perf_counter()
        content_column = source.content_column
        if content_column is None:  # a checked config names exactly one content column
            raise ValueError("the source names no content column (text_column, image_column or vector_column)")
        columns = [source.id_column, content_column]
        if self.with_hashes and source.content_hash_column:
            columns.append(source.content_hash_column)
        try:
            table = with_retries(lambda: read_source(source, shard, columns))
        except Exception as e:  # an unreadable input fails its own shard, not the job: the others still finish
            # (a transient storage error was retried first)
            return failed_chunk(shard, f"{shard.location}: {type(e).__name__}: {e}", self._info())
        read = time.perf_counter()
        unreadable = unreadable_records(table)
        missing = [column for column in columns if column not in table.column_names]
        if source.id_column in missing or source.content_hash_column in missing:  # rows without ids: unreadable
            return failed_chunk(
                shard, f"{shard.location}: no {missing[0]!r} column (it has {table.column_names})", self._info()
            )
        if missing:  # no content column in this file: every row is set aside, with that reason
            return self._without_content(
                shard, table.column(source.id_column).combine_chunks(), read - started, unreadable
            )
        if self.keep_ids is not None:  # rows the run does not redo are not this job's rows at all
            table = table.filter(pc.is_in(table.column(source.id_column), value_set=_kept_ids(self.keep_ids)))
        ids, unnamed = quarantine.readable_ids(table.column(source.id_column).combine_chunks())
        hashes = self._hashes(table)
        items, bad = quarantine.prepare_content(
            table.column(content_column), source.modality, self.source_dim, source.max_image_pixels
        )
        del table
        bad.update({**quarantine.id_problems(ids), **unnamed})
        if self.repeats is not None:  # an id seen first in an earlier shard (or row) is written there only
            for row, reason in repeated_rows(self.repeats, shard.name).items():
                bad.setdefault(row, reason)
        keep = quarantine.kept(len(ids), bad)
        items = quarantine.take(items, keep)
        tokenizer = self._tokenizer()
        if tokenizer is not None and len(keep):
            items = tokenizer.tokenize(cast(Sequence[str], items))  # a tokenizer only for text: a list of str
        seconds = {"read": read - started, "prepare": time.perf_counter() - read}
        return PreparedChunk(shard, ids, keep, items, bad, seconds, self._info(), hashes=hashes, unreadable=unreadable)

    def _without_content(
        self, shard: Shard, ids: pa.Array, read_seconds: float, unreadable: dict[str, str]
    ) -> PreparedChunk:
        """A shard whose file lacks the content column: all its rows go to the quarantine, saying so."""
        if self.keep_ids is not None:
            ids = pc.filter(ids, pc.is_in(ids, value_set=_kept_ids(self.keep_ids)))
        reason = f"no {self.source.content_column!r} column in {shard.files[0] if shard.files else shard.location}"
        ids, unnamed = quarantine.readable_ids(ids)
        bad = {**{row: reason for row in range(len(ids))}, **quarantine.id_problems(ids), **unnamed}
        hashes = pa.nulls(len(ids), pa.string()) if self.with_hashes else None
        return PreparedChunk(
            shard,
            ids,
            np.arange(0),
            [],
            bad,
            {"read": read_seconds, "prepare": 0.0},
            self._info(),
            hashes=hashes,
            unreadable=unreadable,
        )

    def _hashes(self, table: pa.Table) -> pa.Array | None:
        """The rows' content hashes, when the job writes a store: the source's own, or digests of the content."""
        if not self.with_hashes:
            return None
        if self.source.content_hash_column:
            return table.column(self.source.content_hash_column).cast(pa.string()).combine_chunks()
        return content_hashes(table.column(self.source.content_column))

    def _tokenizer(self) -> Tokenizer | None:
        if self.source.modality != "text":
            return None
        return _cached_tokenizer(self.encoder.kind, json.dumps(dict(self.encoder.options), sort_keys=True))

    @staticmethod
    def _info() -> dict[str, Any]:
        release_memory()  # what reading freed, before the next chunk comes to this process
        info = process_info()
        return {"prepare_pid": info["pid"], "prepare_peak_rss_mb": info["peak_rss_mb"]}


@functools.lru_cache(maxsize=2)
def _kept_ids(folder: str) -> pa.Array:
    """The ids listed under ``folder`` (rows whose ``action`` is ``encode``, when there is that column), read once
    per process: every chunk of a job filters by the same list."""
    table = Folder(folder).read_tables("")
    if table is None:
        return pa.array([], pa.string())
    if "action" in table.column_names:
        table = table.filter(pc.equal(table.column("action"), "encode"))
    return table.column("id").combine_chunks()


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(kind: str, options_json: str) -> Tokenizer | None:
    """One tokenizer per process and encoder block: Ray reuses a task's worker process for the next tasks."""
    return build_tokenizer(kind, **resolve_model_options(kind, json.loads(options_json)))
