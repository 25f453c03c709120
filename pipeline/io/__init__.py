"""Storage: what the pipeline reads and writes, through fsspec, and the contracts its tables keep.

- ``sources``: plan and read shards of Parquet, JSONL, CSV, text and image folders (``pkg://`` paths too);
- ``tables``: the embedding table contract (``id`` + ``fixed_size_list<float32>[d]``, provenance metadata);
- ``sink``: an output directory: atomic parts, quarantine, per-shard counts, manifest, ``_SUCCESS`` last;
- ``anchors``: read anchor tables and pair two spaces' anchors on ``id``.
"""
