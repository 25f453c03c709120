"""The steps of a night of ``irp sync`` (:mod:`pipeline.jobs.reembed_nightly`): scan and diff, encode what
changed, merge it, or translate the whole store into a new model's space."""
