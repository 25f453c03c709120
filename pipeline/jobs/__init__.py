"""One package per job, each holding its config schema, its steps and its tasks, with ``run(config, say=print)``
(the job, returning its summary lines) and ``main(argv)`` (the command line). ``python -m jobs.<name>`` and
``irp <name>`` both call ``main``. Jobs schedule Ray work only through the engine (``pipeline.engine``).

Importing this package imports no job: ``irp --help`` stays instant, and ``gpu_check`` runs where Ray is absent.
"""

# Every job, with the line ``irp --help`` shows for it.
JOBS = {
    "embed": "encode a table's texts or images into an embedding table (corpora and anchor sets alike)",
    "translate_corpus": "translate a corpus (stored vectors, or texts and images it encodes) into other models' "
    "spaces through shared anchors",
    "sync": "keep a store in step with tonight's export, encoding only what changed; a model upgrade by translation",
    "evaluate": "score every estimator, both directions, on a labeled set; the published quality report",
    "benchmark": "our jobs against bare baselines on the same data, in the same run, as ratios",
    "gpu_check": "measure the encoder's CUDA path and the fused translation plan on one GPU, without Ray",
    "demo": "migrate a LanceDB table of BBC News to another model's space on packaged models, and score it",
}
