"""The execution engine: how a job's shards get from their source to their tables, exactly once.

- ``driver``: on the driver; plans shards, claims outputs, runs the rest on the pool, writes manifests;
- ``worker``: one shard inside an actor, without Ray: read, quarantine, encode, translate, write;
- ``quarantine``: every rule that sets a row aside, with its reason;
- ``ray_pool``: the only module that imports Ray: start or join a cluster, run workers on a GPU-pinned pool.
"""
