"""Find and read the shards of a source through fsspec: Parquet, JSONL, CSV, folders of texts or images.

A shard is a unit of work with a stable identity: one Parquet row group, one JSONL or CSV file, or a fixed
chunk of a sorted folder listing. The same source always plans the same shards in the same order, so output
part names are deterministic and a rerun can skip the shards it already wrote.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

FORMATS = ("parquet", "jsonl", "csv", "text", "images")
# File suffixes each format lists when ``path`` is a directory.
SUFFIXES = {
    "parquet": (".parquet",),
    "jsonl": (".jsonl", ".ndjson"),
    "csv": (".csv",),
    "text": (".txt", ".text", ".md"),
    "images": (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"),
}
PACKAGE_SCHEME = "pkg://"


@dataclass(frozen=True)
class Shard:
    """One unit of work.

    Attributes:
        index: position in the plan; names the output part.
        files: fsspec URLs this shard reads (one file, or a chunk of a folder).
        row_group: the Parquet row group within ``files[0]``, else None.
        root: the folder ids are relative to, for text and image folders.
    """

    index: int
    files: tuple[str, ...]
    row_group: int | None = None
    root: str = ""

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"


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
    return str(Path(next(iter(spec.submodule_search_locations))) / sub)


def plan_shards(path: str, fmt: str, files_per_shard: int = 256, storage_options: dict | None = None) -> list[Shard]:
    """List the shards of a source, deterministically.

    Args:
        path: a file, a directory, or a glob, as an fsspec URL (local paths too), or ``pkg://...``.
        fmt: one of :data:`FORMATS`.
        files_per_shard: folder formats group this many sorted files per shard.
        storage_options: passed to fsspec (credentials stay out of logs and manifests).

    Raises:
        ValueError: unknown format, or no matching files.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown source format {fmt!r}; choose from {list(FORMATS)}")
    fs, root, files = _list_files(resolve_path(path), fmt, storage_options or {})
    if fmt == "parquet":
        groups = [(f, g) for f in files for g in range(_row_groups(fs, f))]
        return [Shard(i, (_url(fs, f),), g) for i, (f, g) in enumerate(groups)]
    if fmt in ("jsonl", "csv"):
        return [Shard(i, (_url(fs, f),)) for i, f in enumerate(files)]
    chunks = [files[i : i + files_per_shard] for i in range(0, len(files), files_per_shard)]
    return [Shard(i, tuple(_url(fs, f) for f in chunk), root=root) for i, chunk in enumerate(chunks)]


def inputs_fingerprint(path: str, fmt: str, storage_options: dict | None = None) -> str:
    """sha256 over every input file's relative name, size and modification stamp (mtime, ETag, ...).

    A job's fingerprint includes it, so an input that changed under the same path is a different job: its
    output refuses to mix with the old one instead of resuming with stale shards. Reading stamps is cheap
    (listing metadata, not content), even for large object-store folders.
    """
    fs, root, files = _list_files(resolve_path(path), fmt, storage_options or {})
    stamps = []
    for f in files:
        info = fs.info(f)
        stamp = next((info[key] for key in ("mtime", "LastModified", "updated", "ETag", "etag") if key in info), None)
        stamps.append([posixpath.relpath(f, root) if root else f, info.get("size"), str(stamp)])
    return hashlib.sha256(json.dumps(stamps).encode()).hexdigest()


def read_shard(
    shard: Shard, fmt: str, columns: list[str] | None = None, storage_options: dict | None = None
) -> pa.Table:
    """Read one shard as an Arrow table.

    Text folders give columns ``id`` (path relative to the folder), ``text`` (the whole file), ``title`` (its
    first non-blank line) and ``body`` (the rest, stripped): news articles and Markdown notes open with a title,
    and a retrieval set wants titles as queries and bodies as documents. Image folders give ``id`` and ``image``
    (the encoded bytes). Other formats give their own columns (``columns`` selects some).
    """
    options = storage_options or {}
    if fmt == "parquet":
        with fsspec.open(shard.files[0], "rb", **options) as f:
            return pq.ParquetFile(f).read_row_group(shard.row_group, columns=columns)
    if fmt in ("jsonl", "csv"):
        with fsspec.open(shard.files[0], "rb", **options) as f:
            table = pa_json.read_json(f) if fmt == "jsonl" else pa_csv.read_csv(f)
        return table.select(columns) if columns else table
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


def _row_groups(fs: fsspec.AbstractFileSystem, path: str) -> int:
    with fs.open(path, "rb") as f:
        return pq.ParquetFile(f).num_row_groups


def _url(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return fs.unstrip_protocol(path)


def _strip_protocol(url: str) -> str:
    return url.split("://", 1)[-1]
