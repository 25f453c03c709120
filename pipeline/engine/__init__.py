"""The execution engine: how a job's shards get from their source to their tables, exactly once.

- ``driver``: on the driver; plans shards, claims outputs, runs the rest, writes manifests;
- ``job``: what the driver ships to the stages, and what each chunk reports back;
- ``prepare``, ``encode``, ``write``: the three stages of a chunk (CPU: read, check, tokenize; GPU: model and
  fused translation; CPU: parts and quarantine), each without Ray;
- ``chunks``: what passes between the stages, and how a chunk travels as one row;
- ``quarantine``: every rule that sets a row aside, with its reason;
- ``ray_pool``: the only module that imports Ray: start or join a cluster, run the stages on Ray Data;
- ``local``: the same stages in local processes, without Ray; ``worker``: all three in one process;
- ``process``: the facts and memory care of the process a stage runs in.
"""
