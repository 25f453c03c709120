"""Pieces of the ``benchmark`` job: shared inputs (``inputs``) and the store and query sections (``stores``)."""
