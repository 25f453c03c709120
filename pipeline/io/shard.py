"""A shard: one unit of work with a stable identity and a bounded size, from any source (files or a store)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """One unit of work.

    Attributes:
        index: position in the plan; names the output part.
        files: fsspec URLs this shard reads (one file, or a chunk of a folder); a Lance dataset; ``pgvector:<table>``.
        row_group: the Parquet row group within ``files[0]``, or the Lance fragment; else None.
        rows: ``[start, stop)`` rows of that row group or fragment when it is larger than the chunk budget, or the
            heap pages of a PostgreSQL table; else None.
        byte_range: ``[start, end)`` bytes of a JSONL or CSV file larger than the budget, else None (whole file).
        root: the folder ids are relative to, for text and image folders.
        version: a digest of its files' sizes and modification stamps: a file changed since a part was written
            makes that part stale, and only its shards are redone. A store table's version, for its shards.
    """

    index: int
    files: tuple[str, ...]
    row_group: int | None = None
    rows: tuple[int, int] | None = None
    byte_range: tuple[int, int] | None = None
    root: str = ""
    version: str = ""

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"

    @property
    def key(self) -> str:
        """What the shard reads, as a digest: a finished part is only reused for the very same rows."""
        identity = [self.files, self.row_group, self.rows, self.byte_range, self.version]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()

    @property
    def location(self) -> str:
        """Where its rows come from, for quarantine rows and failure reports: a file, and a range within it."""
        if self.row_group is not None:
            rows = "" if self.rows is None else f",rows={self.rows[0]}-{self.rows[1]}"
            return f"{self.files[0]}#row_group={self.row_group}{rows}"
        if self.byte_range is not None:
            return f"{self.files[0]}#bytes={self.byte_range[0]}-{self.byte_range[1]}"
        if self.rows is not None:  # heap pages of a PostgreSQL table
            return f"{self.files[0]}#pages={self.rows[0]}-{self.rows[1]}"
        return self.files[0] if len(self.files) == 1 else f"{self.files[0]} (+{len(self.files) - 1} files)"
