"""Find and read the shards of a source through fsspec: Parquet, JSONL, CSV, folders of texts or images.

A shard is a unit of work with a stable identity and a bounded size: a Parquet row group (or a row range of a
large one), a JSONL or CSV file (or a byte range of a large one, cut at a record end: :mod:`pipeline.io.ranges`),
or a fixed chunk of a sorted folder listing. The same source and budgets always plan the same shards in the same
order, so output part names are deterministic and a rerun can skip the shards it already wrote.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import posixpath
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import CHUNK_BYTES, CHUNK_ROWS, FILE_FORMATS, PACKAGE_SCHEME, STORE_FORMATS, SourceConfig
from pipeline.io.ranges import line_ranges, read_line_range, read_row_range, row_ranges
from pipeline.io.shard import Shard
from pipeline.io.stores import StoreRef
from pipeline.io.stores.layout import source_store

FORMATS = (*FILE_FORMATS, *STORE_FORMATS)
# File suffixes each format lists when ``path`` is a directory.
SUFFIXES = {
    "parquet": (".parquet",),
    "jsonl": (".jsonl", ".ndjson"),
    "csv": (".csv",),
    "text": (".txt", ".text", ".md"),
    "images": (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"),
}


def resolve_path(path: str) -> str:
    """Expand ``pkg://<package>/<sub/path>`` to the installed package's directory; other paths pass through.

    Data that ships inside a Python package (the offline BBC News corpus) can then be named in a config.
    """
    if not path.startswith(PACKAGE_SCHEME):
        return path
    package, _, sub = path[len(PACKAGE_SCHEME) :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{path}: package {package!r} is not installed (pip install it, or use a file path)")
    root = Path(next(iter(spec.submodule_search_locations)))
    if not (root / sub).resolve().is_relative_to(root.resolve()):  # `..`, or a link that climbs out
        raise ValueError(f"{path}: leaves package {package!r}; a pkg:// path names a file or folder inside it")
    return str(root / sub)


def plan_source(source: SourceConfig, chunk_bytes: int = CHUNK_BYTES, chunk_rows: int = CHUNK_ROWS) -> list[Shard]:
    """The shards of a ``source`` block (:func:`plan_shards`), within the chunk budgets of a job's execution."""
    return plan_shards(
        source.path,
        source.format,
        source.files_per_shard,
        dict(source.storage_options),
        chunk_bytes,
        chunk_rows,
        source_store(source),
    )


def read_source(source: SourceConfig, shard: Shard, columns: list[str] | None = None) -> pa.Table:
    """One shard of a ``source`` block (:func:`read_shard`)."""
    return read_shard(shard, source.format, columns, dict(source.storage_options), source_store(source))


def plan_shards(
    path: str,
    fmt: str,
    files_per_shard: int = 256,
    storage_options: dict | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    chunk_rows: int = CHUNK_ROWS,
    store: StoreRef | None = None,
) -> list[Shard]:
    """List the shards of a source, deterministically.

    Args:
        path: a file, a directory, or a glob, as an fsspec URL (local paths too), or ``pkg://...``.
        fmt: one of :data:`FORMATS`.
        store: the table, for a store format (:mod:`pipeline.io.stores.shards`).
        files_per_shard: folder formats group this many sorted files per shard.
        storage_options: passed to fsspec (credentials stay out of logs and manifests).
        chunk_bytes: a JSONL or CSV file above this size is cut into byte ranges of about this size.
        chunk_rows: a Parquet row group above this many rows is cut into row ranges of this many.

    Raises:
        ValueError: unknown format, or no matching files.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown source format {fmt!r}; choose from {list(FORMATS)}")
    if fmt in STORE_FORMATS:
        from pipeline.io.stores.shards import plan_store_shards

        def delta_files(files: list[str], version: str) -> list[Shard]:
            fs, _, _ = fsspec.get_fs_token_paths(files[0] if files else path, storage_options=storage_options)
            return _parquet_shards(fs, [fs._strip_protocol(f) for f in files], chunk_rows, lambda _: version)

        if store is None:
            raise ValueError(f"a {fmt} source is planned from its store table; none was given")
        return plan_store_shards(store, chunk_rows, delta_files)
    fs, root, files = _list_files(resolve_path(path), fmt, storage_options or {})
    stamps = {f: _stamp(fs.info(f)) for f in files}
    if fmt == "parquet":
        return _parquet_shards(fs, files, chunk_rows, lambda f: _version([stamps[f]]))
    if fmt in ("jsonl", "csv"):
        ranges = [(f, r) for f in files for r in _byte_ranges(fs, f, fmt, chunk_bytes)]
        return [
            Shard(i, (_url(fs, f),), byte_range=r, version=_version([stamps[f]])) for i, (f, r) in enumerate(ranges)
        ]
    chunks = [files[i : i + files_per_shard] for i in range(0, len(files), files_per_shard)]
    return [
        Shard(i, tuple(_url(fs, f) for f in chunk), root=root, version=_version([stamps[f] for f in chunk]))
        for i, chunk in enumerate(chunks)
    ]


def _parquet_shards(fs: fsspec.AbstractFileSystem, files: list[str], chunk_rows: int, version: Any) -> list[Shard]:
    """One shard per row group of each file (a row range of a large one); ``version(file)`` stamps each."""
    pieces = [
        (f, g, rows)
        for f in files
        for g, size in enumerate(_row_group_sizes(fs, f))
        for rows in row_ranges(size, chunk_rows)
    ]
    return [Shard(i, (_url(fs, f),), g, rows=rows, version=version(f)) for i, (f, g, rows) in enumerate(pieces)]


def _stamp(info: dict) -> list:
    """A file's size and modification stamp (mtime, ETag, ...): metadata from the listing, no content read."""
    stamp = next((info[key] for key in ("mtime", "LastModified", "updated", "ETag", "etag") if key in info), None)
    return [info.get("size"), str(stamp)]


def _version(stamps: list[list]) -> str:
    return hashlib.sha256(json.dumps(stamps).encode()).hexdigest()[:16]


def _byte_ranges(fs: fsspec.AbstractFileSystem, path: str, fmt: str, chunk_bytes: int) -> list[tuple[int, int] | None]:
    """``[None]`` (the whole file) when it fits the budget, else its record-aligned byte ranges."""
    size = fs.size(path)
    if size is None or size <= chunk_bytes:
        return [None]
    with fs.open(path, "rb") as f:
        return list(line_ranges(f, size, chunk_bytes, quoted=fmt == "csv"))


def inputs_fingerprint(path: str, fmt: str, storage_options: dict | None = None) -> str:
    """sha256 over every input file's relative name, size and modification stamp (mtime, ETag, ...).

    A translator fitted on an anchor set that a job embeds depends on every file of it, so the set's fingerprint
    is part of the job's. (A corpus needs no such guard: each shard carries its own files' version.) Reading
    stamps is cheap (listing metadata, not content), even for large object-store folders.
    """
    fs, root, files = _list_files(resolve_path(path), fmt, storage_options or {})
    stamps = [[posixpath.relpath(f, root) if root else f, *_stamp(fs.info(f))] for f in files]
    return hashlib.sha256(json.dumps(stamps).encode()).hexdigest()


def read_shard(
    shard: Shard,
    fmt: str,
    columns: list[str] | None = None,
    storage_options: dict | None = None,
    store: StoreRef | None = None,
) -> pa.Table:
    """Read one shard as an Arrow table.

    Text folders give columns ``id`` (path relative to the folder), ``text`` (the whole file), ``title`` (its
    first non-blank line) and ``body`` (the rest, stripped): news articles and Markdown notes open with a title,
    and a retrieval set wants titles as queries and bodies as documents. Image folders give ``id`` and ``image``
    (the encoded bytes). Other formats give their own columns: ``columns`` selects some, and one a file lacks is
    left out, for the caller to set the file's rows aside with that reason.
    """
    options = storage_options or {}
    if fmt in ("lancedb", "pgvector"):
        from pipeline.io.stores.shards import read_store_shard

        if store is None:
            raise ValueError(f"a {fmt} shard is read from its store table; none was given")
        return read_store_shard(store, shard, columns)
    if fmt in ("parquet", "delta"):  # a Delta shard is a row group of one of the table's Parquet files
        if shard.row_group is None:
            raise ValueError(f"{fmt} shard {shard.name} names no row group; it was not planned by plan_shards")
        with fsspec.open(shard.files[0], "rb", **options) as f:
            parquet = pq.ParquetFile(f)
            present = None if columns is None else [c for c in columns if c in parquet.schema_arrow.names]
            return without_views(read_row_range(parquet, shard.row_group, shard.rows, present))
    if fmt in ("jsonl", "csv"):
        with fsspec.open(shard.files[0], "rb", **options) as f:
            table = read_line_range(f, fmt, shard.byte_range, posixpath.basename(shard.files[0]))
        return table.select([c for c in columns if c in table.column_names]) if columns else table
    ids, payloads = [], []
    for url in shard.files:
        with fsspec.open(url, "rb", **options) as f:
            payloads.append(f.read())
        ids.append(posixpath.relpath(_strip_protocol(url), _strip_protocol(shard.root)))
    if fmt == "text":
        # Undecodable bytes become U+FFFD instead of failing the shard; the text stays readable and encodable.
        texts = [p.decode("utf-8", errors="replace") for p in payloads]
        titles, bodies = zip(*(title_and_body(text) for text in texts), strict=True) if texts else ((), ())
        table = pa.table({"id": ids, "text": texts, "title": list(titles), "body": list(bodies)})
        return table.select(columns) if columns else table
    return pa.table({"id": ids, "image": pa.array(payloads, type=pa.binary())})


def without_views(table: pa.Table) -> pa.Table:
    """String and binary *view* columns (delta-rs writes them) as plain ones, which every compute kernel takes."""
    plain = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}
    if not any(field.type in plain for field in table.schema):
        return table
    return table.cast(pa.schema([field.with_type(plain.get(field.type, field.type)) for field in table.schema]))


def title_and_body(text: str) -> tuple[str, str]:
    """A text's first non-blank line (stripped) and everything after it (stripped); either may be empty."""
    lines = text.lstrip().split("\n", 1)
    return lines[0].strip(), (lines[1].strip() if len(lines) > 1 else "")


def _list_files(path: str, fmt: str, options: dict) -> tuple[fsspec.AbstractFileSystem, str, list[str]]:
    fs, _, expanded = fsspec.get_fs_token_paths(path, storage_options=options)
    if len(expanded) == 1 and fs.isdir(expanded[0]):
        root = expanded[0]
        # Names starting with "_" or "." are metadata or temporaries by the Hadoop convention, ours included.
        files = [f for f in fs.find(root) if f.lower().endswith(SUFFIXES[fmt]) and not _hidden(f, root)]
    else:
        # Ids are relative to the folder above the first wildcard, so `data/*/0*.txt` keeps `sport/001.txt`.
        magic = min((i for i, c in enumerate(path) if c in "*?["), default=None)
        pattern_root = fsspec.core.strip_protocol(path[:magic].rsplit("/", 1)[0]) if magic is not None else None
        root = pattern_root or (posixpath.dirname(expanded[0]) if expanded else "")
        files = [f for f in expanded if fs.isfile(f)]
    if not files:
        raise ValueError(f"no {fmt} files found at {path!r} (suffixes {list(SUFFIXES[fmt])})")
    return fs, root, sorted(files)


def _hidden(path: str, root: str) -> bool:
    return any(part[:1] in "_." for part in posixpath.relpath(path, root).split("/"))


def _row_group_sizes(fs: fsspec.AbstractFileSystem, path: str) -> list[int]:
    """Rows in each row group, from the footer alone; ``[0]`` (one shard, which will fail) for an unreadable file.

    A corrupt file must not stop the plan: its shard fails when read, is reported with its reason, and the
    other shards finish. Once fixed, a rerun plans its real row groups and does only them.
    """
    try:
        with fs.open(path, "rb") as f:
            metadata = pq.ParquetFile(f).metadata
    except (OSError, pa.ArrowException):
        return [0]
    return [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]


def _url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return fs.unstrip_protocol(path)


def _strip_protocol(url: str) -> str:
    return url.split("://", 1)[-1]
