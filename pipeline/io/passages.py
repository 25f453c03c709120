"""A document's paragraphs as anchor items of their own: more pairs from the same anchor documents.

A translator fitted on whole anchor documents has seen one pair per document. Each paragraph, embedded by both
models, is another pair from the same item: about five per BBC News article, shorter and nearer a query in
length. A paragraph's id is its document's id, ``#p`` and its place among the document's kept paragraphs
(``business/001.txt#p0``), so a paragraph can be traced to its document and kept out of a held-out set with it.
Only :func:`write_passages` reads and writes; the rest is pure.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

import fsspec
import numpy as np

from pipeline.config import SourceConfig
from pipeline.io.sources import plan_shards, read_shard

PASSAGE_MARK = "#p"  # between a document's id and the paragraph's place: "<id>#p<k>"
MIN_PASSAGE_CHARS = 40  # shorter paragraphs are datelines, bylines and captions, not content
PASSAGES_PER_FILE = 512  # write_passages: a shard each, so the embedding is spread over the actors
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")


def paragraphs(text: str, min_chars: int = MIN_PASSAGE_CHARS) -> list[str]:
    """The blank-line separated paragraphs of ``text``, stripped, of at least ``min_chars`` characters."""
    return [piece.strip() for piece in _BLANK_LINE.split(text) if len(piece.strip()) >= min_chars]


def passage_rows(ids: Sequence[str], texts: Sequence[str | None],
                 min_chars: int = MIN_PASSAGE_CHARS) -> tuple[list[str], list[str]]:
    """``(passage ids, passage texts)`` of every document, in document order; a missing text has none."""
    passage_ids, passage_texts = [], []
    for document, text in zip(ids, texts, strict=True):
        for place, piece in enumerate(paragraphs(text or "", min_chars)):
            passage_ids.append(f"{document}{PASSAGE_MARK}{place}")
            passage_texts.append(piece)
    return passage_ids, passage_texts


def owner_of(passage_id: str) -> str:
    """The id of the document a passage id was cut from."""
    return passage_id.rsplit(PASSAGE_MARK, 1)[0]


def owners_in(passage_ids: Sequence[str], document_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(kept (m,) passage positions, owners (m,) document positions)`` of the passages whose document is listed.

    A passage whose document is not among ``document_ids`` (set aside by an encoder, say) is left out.
    """
    position = {str(document): i for i, document in enumerate(document_ids)}  # passage ids are text
    pairs = [(i, position[owner_of(p)]) for i, p in enumerate(passage_ids) if owner_of(p) in position]
    kept, owners = zip(*pairs, strict=True) if pairs else ((), ())
    return np.array(kept, dtype=np.int64), np.array(owners, dtype=np.int64)


def write_passages(
    documents: SourceConfig, folder: str, storage_options: Mapping[str, Any] | None = None
) -> SourceConfig:
    """Write the paragraphs of every text in ``documents`` into ``folder`` as JSONL files of ``id`` and ``text``;
    return the folder as a source (``storage_options`` are the folder's, the documents carry their own).

    One file per :data:`PASSAGES_PER_FILE` paragraphs, so the embedding job gets a shard per file to spread over
    its actors. A file is rewritten only when its content changes, so a rerun's ``embed`` finds its inputs as
    they were and reuses what it embedded; a file a longer set left behind is removed.
    """
    options = dict(documents.storage_options)
    ids, texts = [], []
    for shard in plan_shards(documents.path, documents.format, documents.files_per_shard, options,
                             store=documents.store):
        table = read_shard(shard, documents.format, [documents.id_column, documents.text_column], options,
                           documents.store)
        ids += table.column(documents.id_column).to_pylist()
        texts += table.column(documents.text_column).to_pylist()
    lines = [json.dumps({"id": i, "text": t}) for i, t in zip(*passage_rows(ids, texts), strict=True)]
    files = {f"part-{n:05d}.jsonl": ("\n".join(lines[start:start + PASSAGES_PER_FILE]) + "\n").encode()
             for n, start in enumerate(range(0, len(lines), PASSAGES_PER_FILE))}
    fs, path = fsspec.core.url_to_fs(folder, **dict(storage_options or {}))
    fs.makedirs(path, exist_ok=True)
    for stale in {posixpath.basename(f) for f in fs.ls(path, detail=False)} - set(files):
        fs.rm_file(posixpath.join(path, stale))
    for name, content in files.items():
        where = posixpath.join(path, name)
        if not fs.exists(where) or fs.cat_file(where) != content:
            fs.pipe_file(where, content)
    return SourceConfig(path=folder, format="jsonl", text_column="text",
                        storage_options=dict(storage_options or {}))
