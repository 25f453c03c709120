"""Storage: fsspec sources, the embedding table contract, and the Parquet sink with its manifest."""
