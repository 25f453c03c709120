"""irp-pipeline: translate embeddings between models through shared anchor-relative projections."""

__version__ = "0.1.0"
