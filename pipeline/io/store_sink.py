"""A store as a job's output: shards staged by the write tasks, published once by the driver.

:class:`StoreOutput` answers to the engine exactly as an :class:`~pipeline.io.sink.OutputDir` does. Its records
(per-shard counts, quarantine, manifest, fitted translator) live in an output directory of their own, the
*records* folder (``OutputConfig.records``). Each shard's record also holds what the store staged for it (Lance
fragment metadata, a Delta add action, a row count in a PostgreSQL staging table), written after the staging
succeeded, so a rerun reuses it. At the end the driver calls :meth:`publish` with the planned shards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from pipeline.io.sink import OutputDir
from pipeline.io.stores import StoreRef, open_store, publish_id
from pipeline.io.stores.base import IndexSpec


class StoreOutput(OutputDir):
    """The records folder of a store output, which stages rows in the store instead of writing Parquet parts.

    Args:
        records: the records folder URL; storage_options: its fsspec options.
        store: the table published to.
        run: the job's staging id (its fingerprint): the store keeps each run's staged pieces apart.
        index: built before the table is published.
    """

    def __init__(self, records: str, storage_options: Mapping[str, Any] | None, store: StoreRef, run: str,
                 index: IndexSpec | None = None) -> None:
        super().__init__(records, storage_options)
        self.store, self.run, self.index = store, run, index

    def write_part(self, name: str, table: pa.Table | None, quarantine: pa.Table | None,
                   counts: Mapping[str, Any]) -> None:
        """Stage the shard's rows in the store, then record its quarantine and counts with what was staged."""
        staged = open_store(self.store).stage(name, table, self.run) if table is not None else None
        super().write_part(name, None, quarantine, {**counts, "staged": staged})

    def _recorded_files(self, name: str, counts: Mapping[str, Any]) -> list[tuple[str, int]]:
        """Only the quarantine is a file here: the rows are staged in the store."""
        rows = int(counts.get("rows_quarantined", 0))
        return [(self.quarantine_path(name), rows)] if rows else []

    def publish(self, shards: Iterable[str], provenance: Mapping[str, Any]) -> dict[str, Any]:
        """Publish exactly ``shards`` (every planned one, all staged) in one atomic step.

        The publish is named by the run and the shard set: a rerun after a publish whose manifest was never
        written finds the table already carrying that name, and publishes nothing twice.
        """
        return publish_staged(self.store, self.run, self.index, self.staged(shards), provenance)

    def staged(self, shards: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What the store staged for each of ``shards`` (all finished), by part name."""
        finished = self.finished_shards()
        return {name: finished[name]["staged"] for name in sorted(shards)}


def publish_staged(store: StoreRef, run: str, index: IndexSpec | None, staged: Mapping[str, Mapping[str, Any]],
                   provenance: Mapping[str, Any]) -> dict[str, Any]:
    """Publish exactly the ``staged`` parts of ``run`` as the table, in one atomic step, under a ``publish_id``
    named by the run and its parts (see :meth:`StoreOutput.publish`)."""
    named = {**provenance, "publish_id": publish_id(run, staged)}
    return {"store": store.describe(), **open_store(store).publish(staged, named, index, run)}


def open_output(url: str, storage_options: Mapping[str, Any] | None, store: StoreRef | None = None, run: str = "",
                index: IndexSpec | None = None) -> OutputDir:
    """The output a job writes: a Parquet directory, or a store with its records folder at ``url``."""
    if store is None:
        return OutputDir(url, storage_options)
    return StoreOutput(url, storage_options, store, run, index)
