"""Measuring: how good a translation is, and how fast the pipeline runs. No Ray here.

- ``metrics``: cosine, MSE, retrieval (top-k, MRR), macro-F1, the stitched-decoder score;
- ``decoders``: the probes a target space is judged by (logistic regression, LayerNorm MLP);
- ``protocol``: the evaluation plan on in-memory embeddings: estimators, draws, sweeps;
- ``report``: the published quality report (tables, plots, JSON);
- ``ratios``: the one format speed figures are published in (ours against a bare baseline, same run);
- ``gpu_speed``: the GPU check's probes (CUDA encoder path, fused plan, bf16 parity).
"""
