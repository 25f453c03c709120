"""Write a source's paragraphs (pipeline.io.passages) as JSONL files that the ``embed`` job reads."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any

import fsspec

from pipeline.config import SourceConfig
from pipeline.io.passages import passage_rows
from pipeline.io.sources import plan_source, read_source

PASSAGES_PER_FILE = 512  # a shard each, so the embedding is spread over the actors


def write_passages(
    documents: SourceConfig, folder: str, storage_options: Mapping[str, Any] | None = None
) -> SourceConfig:
    """Write the paragraphs of every text in ``documents`` into ``folder`` as JSONL files of ``id`` and ``text``;
    return the folder as a source (``storage_options`` are the folder's, the documents carry their own).

    One file per :data:`PASSAGES_PER_FILE` paragraphs, so the embedding job gets a shard per file to spread over
    its actors. A file is rewritten only when its content changes, so a rerun's ``embed`` finds its inputs as
    they were and reuses what it embedded; a file a longer set left behind is removed.
    """
    text_column = documents.text_column
    if text_column is None:
        raise ValueError("documents must be a text source (text_column) to be cut into passages")
    ids, texts = [], []
    for shard in plan_source(documents):
        table = read_source(documents, shard, [documents.id_column, text_column])
        ids += table.column(documents.id_column).to_pylist()
        texts += table.column(text_column).to_pylist()
    lines = [json.dumps({"id": i, "text": t}) for i, t in zip(*passage_rows(ids, texts), strict=True)]
    files = {
        f"part-{n:05d}.jsonl": ("\n".join(lines[start : start + PASSAGES_PER_FILE]) + "\n").encode()
        for n, start in enumerate(range(0, len(lines), PASSAGES_PER_FILE))
    }
    fs, path = fsspec.core.url_to_fs(folder, **dict(storage_options or {}))
    fs.makedirs(path, exist_ok=True)
    for stale in {posixpath.basename(f) for f in fs.ls(path, detail=False)} - set(files):
        fs.rm_file(posixpath.join(path, stale))
    for name, content in files.items():
        where = posixpath.join(path, name)
        if not fs.exists(where) or fs.cat_file(where) != content:
            fs.pipe_file(where, content)
    return SourceConfig(path=folder, format="jsonl", text_column="text", storage_options=dict(storage_options or {}))
