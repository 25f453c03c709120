"""Storage: what the pipeline reads and writes, through fsspec and the stores' own clients, and the contracts its
tables keep.

- ``sources``: plan and read shards of Parquet, JSONL, CSV, text and image folders (``pkg://`` paths too), and of
  store tables (``store_shards``); ``shard`` is the unit of work;
- ``tables``: the embedding table contract (``id`` + ``fixed_size_list<float32>[d]``, provenance metadata);
- ``sink``: an output directory: atomic parts, quarantine, per-shard counts, manifest, ``_SUCCESS`` last;
- ``stores``: LanceDB, Delta Lake and pgvector tables: staged writes, one atomic publish, upsert and delete;
  ``store_sink`` makes a store a job's output;
- ``anchors``: read anchor tables and pair two spaces' anchors on ``id``.
"""
