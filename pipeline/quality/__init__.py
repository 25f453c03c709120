"""How good a translation is: the measures every job that scores one shares (evaluate, demo, assess). No Ray here.

- ``metrics``: cosine, MSE, retrieval (top-k, MRR), macro-F1, the stitched-decoder score, the evaluation split;
- ``decoders``: the probes a target space is judged by (logistic regression, LayerNorm MLP);
- ``store_recall``: Recall@k of queries through a store's own vector index.
"""
