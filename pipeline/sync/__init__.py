"""Nightly re-embedding: what changed between tonight's export and the store (``diff``)."""
