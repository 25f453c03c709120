"""Ray job entrypoints, one per job: ``python -m jobs.<name> --config FILE`` runs ``pipeline.jobs.<name>.main``."""
