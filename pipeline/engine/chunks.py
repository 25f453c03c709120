"""What passes between the engine's stages, one shard chunk at a time, and how it travels as one Ray Data row.

prepare (CPU task) -> :class:`PreparedChunk` -> encode (GPU actor) -> :class:`EncodedChunk` -> write (CPU task).

Each chunk travels as a single row (a small JSON header plus Arrow IPC streams), so Ray Data can never split or
merge it: the chunk keeps the identity of its shard from the read to the part it becomes, which keeps part names
deterministic and resume exactly-once. Arrow IPC moves token ids, pixels and vectors as flat buffers, with no
per-row Python objects and no pickling. No Ray here: the codecs are plain pyarrow and numpy.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.encoders.batching import Ragged
from pipeline.engine.quarantine import Reasons
from pipeline.io.sources import Shard
from pipeline.io.tables import embedding_array, vectors_of

HEADER = "header"  # the JSON column of a chunk row; every other column is one Arrow IPC stream


@dataclasses.dataclass(frozen=True)
class PreparedChunk:
    """A shard chunk read and checked, its content ready for the model.

    Attributes:
        shard: the chunk it came from.
        ids: ``(n,)`` ids of every row read (kept and set aside).
        keep: ``(m,)`` int64 rows that go to the model, ascending.
        items: the model's input for those ``m`` rows, in order: token rows (:class:`Ragged`), texts, RGB
            images, or an ``(m, d)`` float32 matrix of stored vectors.
        bad: ``{row: reason}`` for the rows set aside so far.
        seconds: time spent per stage so far.
        info: facts about the processes that did the work (e.g. their peak memory).
        failed: why the chunk could not be read; then nothing else is set.
        hashes: ``(n,)`` content hashes of every row read, when the job writes a store; else None.
        unreadable: ``{where: why}`` of records the reader could not parse into rows (a line that is not JSON):
            they have no id, so they go to the quarantine under ``<file>@<byte offset>``.
    """

    shard: Shard
    ids: pa.Array
    keep: np.ndarray
    items: Any
    bad: Reasons
    seconds: Mapping[str, float]
    info: Mapping[str, Any]
    failed: str | None = None
    hashes: pa.Array | None = None
    unreadable: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class EncodedChunk:
    """A chunk's finished tables: one part per output and the quarantine, ready to be written.

    Attributes:
        shard: the chunk it came from.
        parts: one embedding table per output of the job, in the job's output order.
        quarantine: the rows set aside, with their reasons (the same for every output).
        counts: ``rows_in``, ``rows_out`` and ``rows_quarantined``.
        seconds, info, failed: as in :class:`PreparedChunk`, carried on.
    """

    shard: Shard
    parts: tuple[pa.Table, ...]
    quarantine: pa.Table | None
    counts: Mapping[str, int]
    seconds: Mapping[str, float]
    info: Mapping[str, Any]
    failed: str | None = None


def failed_chunk(shard: Shard, reason: str, info: Mapping[str, Any]) -> PreparedChunk:
    """A chunk whose input could not be read: it passes through the other stages untouched."""
    return PreparedChunk(shard, pa.array([], pa.null()), np.zeros(0, np.int64), [], {}, {}, info, failed=reason)


def shard_to_json(shard: Shard) -> str:
    return json.dumps(dataclasses.asdict(shard))


def shard_from_json(text: str) -> Shard:
    fields = json.loads(text)
    ranges = {key: tuple(fields[key]) for key in ("rows", "byte_range") if fields.get(key) is not None}
    return Shard(**{**fields, "files": tuple(fields["files"]), **ranges})


def prepared_to_row(chunk: PreparedChunk) -> pa.Table:
    """A :class:`PreparedChunk` as a one-row table: the header, then ids, kept rows and items as IPC streams."""
    kind, items = items_to_table(chunk.items)
    ids = pa.table({"id": chunk.ids} if chunk.hashes is None else {"id": chunk.ids, "hash": chunk.hashes})
    return _row(
        _header(
            chunk.shard,
            chunk.bad,
            chunk.seconds,
            chunk.info,
            chunk.failed,
            items=kind,
            unreadable=dict(chunk.unreadable),
        ),
        ids=ids,
        keep=pa.table({"row": pa.array(chunk.keep, pa.int64())}),
        items=items,
    )


def prepared_from_row(batch: pa.Table, index: int = 0) -> PreparedChunk:
    """Row ``index`` of a batch of :func:`prepared_to_row` rows."""
    header, streams = _unrow(batch, index)
    ids = streams["ids"]
    return PreparedChunk(
        shard=shard_from_json(header["shard"]),
        ids=ids.column("id").combine_chunks(),
        hashes=ids.column("hash").combine_chunks() if "hash" in ids.column_names else None,
        keep=streams["keep"].column("row").to_numpy(),
        items=items_from_table(header["items"], streams["items"]),
        bad={int(k): v for k, v in header["bad"].items()},
        seconds=header["seconds"],
        info=header["info"],
        failed=header["failed"],
        unreadable=header.get("unreadable", {}),
    )


def encoded_to_row(chunk: EncodedChunk) -> pa.Table:
    """An :class:`EncodedChunk` as a one-row table: the header, the quarantine and one stream per output part."""
    header = _header(
        chunk.shard,
        {},
        chunk.seconds,
        chunk.info,
        chunk.failed,
        counts=dict(chunk.counts),
        parts=len(chunk.parts),
        quarantined=chunk.quarantine is not None,
    )
    quarantine = chunk.quarantine if chunk.quarantine is not None else pa.table({})
    return _row(header, quarantine=quarantine, **{f"part_{i}": part for i, part in enumerate(chunk.parts)})


def encoded_from_row(batch: pa.Table, index: int = 0) -> EncodedChunk:
    """Row ``index`` of a batch of :func:`encoded_to_row` rows."""
    header, streams = _unrow(batch, index)
    return EncodedChunk(
        shard=shard_from_json(header["shard"]),
        parts=tuple(streams[f"part_{i}"] for i in range(header["parts"])),
        quarantine=streams["quarantine"] if header["quarantined"] else None,
        counts=header["counts"],
        seconds=header["seconds"],
        info=header["info"],
        failed=header["failed"],
    )


def items_to_table(items: Any) -> tuple[str, pa.Table]:
    """The model's input as an Arrow table, and which kind it is (so it comes back as the same type).

    Token rows keep their flat layout (a large list array over the offsets, ids as int32: every vocabulary fits,
    and it halves what crosses the object store); images travel as RGB pixels with their sizes; vectors as a
    fixed-size list; texts as strings.
    """
    if isinstance(items, Ragged):
        offsets = pa.array(items.offsets, pa.int64())
        return "tokens", pa.table(
            {
                name: pa.LargeListArray.from_arrays(offsets, pa.array(values.astype(np.int32)))
                for name, values in items.columns.items()
            }
        )
    if isinstance(items, np.ndarray):
        return "vectors", pa.table({"vector": embedding_array(items.reshape(len(items), -1))})
    if items and not isinstance(items[0], str):  # decoded images (PIL is imported only where images are)
        return "images", pa.table(
            {
                "pixels": pa.array([image.tobytes() for image in items], pa.large_binary()),
                "width": pa.array([image.width for image in items], pa.int32()),
                "height": pa.array([image.height for image in items], pa.int32()),
            }
        )
    return "texts", pa.table({"text": pa.array(list(items), pa.large_string())})


def items_from_table(kind: str, table: pa.Table) -> Any:
    if kind == "tokens":
        columns = {name: table.column(name).combine_chunks() for name in table.column_names}
        first = next(iter(columns.values()), None)
        offsets = np.zeros(1, np.int64) if first is None else first.offsets.to_numpy()
        return Ragged({name: column.values.to_numpy() for name, column in columns.items()}, offsets)
    if kind == "vectors":
        return vectors_of(table.column("vector"), "vector")
    if kind == "images":
        from PIL import Image

        sizes = zip(table.column("width").to_pylist(), table.column("height").to_pylist(), strict=True)
        return [
            Image.frombytes("RGB", size, pixels)
            for size, pixels in zip(sizes, table.column("pixels").to_pylist(), strict=True)
        ]
    return table.column("text").to_pylist()


def _header(
    shard: Shard, bad: Reasons, seconds: Mapping[str, float], info: Mapping[str, Any], failed: str | None, **extra: Any
) -> str:
    return json.dumps(
        {
            "shard": shard_to_json(shard),
            "bad": {str(k): v for k, v in bad.items()},
            "seconds": dict(seconds),
            "info": dict(info),
            "failed": failed,
            **extra,
        }
    )


def _row(header: str, **tables: pa.Table) -> pa.Table:
    """One row: the JSON header, then each table as an Arrow IPC stream in a ``large_binary`` cell.

    The cell wraps the stream's buffer without copying it (an offsets buffer of two entries around it).
    """
    cells = {}
    for name, table in tables.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        stream = sink.getvalue()
        offsets = pa.py_buffer(np.array([0, stream.size], dtype=np.int64))
        cells[name] = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, stream])
    return pa.table({HEADER: pa.array([header], pa.large_string()), **cells})


def _unrow(batch: pa.Table, index: int) -> tuple[dict[str, Any], dict[str, pa.Table]]:
    """The header and the tables of row ``index``, the tables read from the cells' buffers without copying."""
    header = json.loads(batch.column(HEADER)[index].as_py())
    streams = {
        name: pa.ipc.open_stream(batch.column(name)[index].as_buffer()).read_all()
        for name in batch.column_names
        if name != HEADER
    }
    return header, streams
