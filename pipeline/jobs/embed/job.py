"""The ``embed`` job: encode a source's texts or images into an embedding table, for corpora and anchor sets alike.

``run_embed`` is also the machinery other jobs embed with (anchor sets, the demo's tables, evaluation spaces).
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.engine.driver import run_shard_job
from pipeline.engine.summary import Summary
from pipeline.io.output import Output
from pipeline.jobs.embed.config import EmbedConfig
from pipeline.provenance import config_snapshot, fingerprint, space_id
from pipeline.version import __version__


def run(config: EmbedConfig, say: Callable[[str], None] = print) -> list[str]:
    """Run the job; returns its summary lines (progress goes to stderr as it runs)."""
    return run_embed(config).lines()


def main(argv: list[str] | None = None) -> int:
    from pipeline.jobs.entry import run_configured_job

    return run_configured_job(argv, "embed", __doc__.splitlines()[0], EmbedConfig, run)


def run_embed(config: EmbedConfig) -> Summary:
    """Encode ``config.source`` into an embedding table on a Ray actor pool."""
    return run_shard_job(config.source, config.encoder, config.execution, [embedding_output(config)])


def embedding_output(config: EmbedConfig) -> Output:
    """The output of a table of vectors in the encoder's own space (an ``embed`` job, or a job's source vectors).

    Its fingerprint covers the config, not the input files: each part records the version of the files it read,
    so an edited file redoes only its own shards on the next run.
    """
    snapshot = config_snapshot(config)
    provenance = {
        "space": config.output.space or space_id(config.encoder.kind, config.encoder.options),
        "encoder": {"kind": config.encoder.kind, **config.encoder.options},
        "job_fingerprint": fingerprint(snapshot),
        "package_version": __version__,
    }
    return Output.of(config.output, provenance, snapshot)
