"""One module per job, each with ``run(config, say=print)`` (the job, returning its summary lines) and
``main(argv)`` (the command line). ``python -m jobs.<name>`` and ``irp <name>`` both call ``main``.

- ``embed``: encode a table into a space, for corpora and anchor sets alike;
- ``translate_corpus``: a corpus into other models' spaces through shared anchors;
- ``evaluate``: every estimator, both directions, on a labelled set; the published quality report;
- ``benchmark``: our jobs against bare baselines, as ratios; ``gpu_check``: the CUDA path on one GPU, no Ray;
- ``reembed_nightly`` (``irp sync``): keep a store in step with tonight's export, encoding only what changed;
- ``demo``: ``make demo``, a vector-store migration on packaged models and data.

Importing this package imports no job: ``irp --help`` stays instant, and ``gpu_check`` runs where Ray is absent.
"""

JOBS = ("benchmark", "demo", "embed", "evaluate", "gpu_check", "reembed_nightly", "translate_corpus")
