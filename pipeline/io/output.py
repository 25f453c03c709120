"""One output of a job, over its whole life: claim, resume, stage, publish, and the records it keeps.

A job describes each table it writes as one :class:`Output` (built from its config block with :meth:`Output.of`);
the engine's driver and write tasks talk to that object only. Whatever the table is, a Parquet directory or a store
(:mod:`pipeline.io.stores`), the life is the same:

1. :meth:`~Output.claim`: the records folder (:mod:`pipeline.io.records`) is marked as this job's, or the job is
   refused because another job's output is there;
2. :meth:`~Output.resume`: which planned shards are already done, stale and broken ones forgotten;
3. :meth:`~Output.stage`, in a write task: a shard's rows staged beside the live table, then its quarantine and
   counts recorded;
4. :meth:`~Output.finish`: when every shard is in, the staged shards are published as one new version, and the
   manifest is written. Until then readers see the previous version, whole.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from pipeline.config import IndexSpec, OutputConfig
from pipeline.io.records import MANIFEST, Records
from pipeline.io.shard import Shard
from pipeline.io.stores import VectorStore, open_store, publish_id
from pipeline.io.stores.base import StoreRef
from pipeline.io.stores.layout import output_store
from pipeline.io.translator_records import keep_translator, translator_change
from pipeline.translate import FittedTranslator


@dataclasses.dataclass(frozen=True)
class Output:
    """One table every shard of a job is written into. Frozen and picklable: it ships to the write tasks (and, with
    its translator, to the actors), and holds no connection.

    Attributes:
        table: where the rows go: a Parquet directory or a store table, with its records folder.
        provenance: JSON facts written into every part's metadata and the table's; carries the
            ``job_fingerprint`` that guards the records.
        snapshot: the config that made this table, written into its manifest.
        translator: applied after encoding (its fused plan, one matmul per chunk); None writes the vectors as
            they are. Shipped with the job, so every actor holds it once, wherever the actor runs.
        index: the vector index the table is published with.
        overwrite: replace another job's output instead of refusing.
        content_hash: give a Parquet table the rows' ``content_hash`` too (a store's rows always carry it).
        row_facts: constant text columns every row gets (a nightly store's ``space``, ``origin``, ``run``).
        publishes: publish when every shard is staged; False leaves the staged shards for the caller to publish
            together with others (:func:`publish_together`: a model upgrade's translated and native rows).
        records_at: this output's records folder, when not the table's own (a nightly upgrade keeps them in its
            run, while the table stages where it always does).
    """

    table: StoreRef
    provenance: Mapping[str, Any]
    snapshot: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    translator: FittedTranslator | None = None
    index: IndexSpec | None = None
    overwrite: bool = False
    content_hash: bool = False
    row_facts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    publishes: bool = True
    records_at: str = ""

    @classmethod
    def of(
        cls,
        config: OutputConfig,
        provenance: Mapping[str, Any],
        snapshot: Mapping[str, Any] | None = None,
        translator: FittedTranslator | None = None,
        records: str | None = None,
        **options: Any,
    ) -> Output:
        """The output an ``output`` block names; ``records`` moves its records folder (``records_at``);
        ``options`` are the other fields."""
        return cls(
            output_store(config),
            provenance,
            snapshot or {},
            translator,
            config.index,
            config.overwrite,
            records_at=records or "",
            **options,
        )

    @property
    def records(self) -> Records:
        return Records(self.records_at or self.table.records, self.table.storage_options)

    @property
    def run(self) -> str:
        """The job's staging id: its fingerprint, shortened (it names staging tables and folders)."""
        return str(self.provenance["job_fingerprint"])[:16]

    @property
    def hashed(self) -> bool:
        """Whether its rows carry ``content_hash``."""
        return self.table.format != "parquet" or self.content_hash

    def describe(self) -> str:
        """The table as a summary line shows it: its path, or its store table (never a connection string)."""
        return self.table.path if self.table.format == "parquet" else self.table.describe()

    def store(self) -> VectorStore:
        return open_store(self.table)

    # -- the life --------------------------------------------------------------------------------------------

    def claim(self) -> None:
        """Mark the records as this job's (see :meth:`Records.claim`), and clear what killed writes left."""
        self.records.claim(self.provenance["job_fingerprint"], self.overwrite, self.describe())
        self.records.remove_temporaries()

    def resume(self, shards: Sequence[Shard]) -> set[str]:
        """The planned shards already done, cut exactly as planned now; every other shard's record is forgotten.

        A shard counts only if its recorded shard (file, row group, range) is the one its name stands for today: a
        changed chunk budget, or a file that could not be read before and has more row groups now, renames parts.
        A shard whose staged rows or quarantine file are gone or hold other row counts than recorded is redone.
        When the translator fitted now is not the map the shards were written with, every shard is redone: one
        table holds one map's translations.
        """
        records = self.records
        if self.translator is not None:
            change = translator_change(records, self.translator)
            if change is not None and records.finished():
                _say(
                    f"{self.describe()}: the translator differs from the one its parts were written with "
                    f"({change}); redoing them all"
                )
                records.forget(sorted(records.finished()))
            keep_translator(records, self.translator)
        planned = {shard.name: shard.key for shard in shards}
        finished = records.finished()
        current = {name: counts for name, counts in finished.items() if planned.get(name) == counts.get("shard")}
        records.forget(sorted(set(finished) - set(current)))
        broken = {name: problem for name, counts in current.items() if (problem := self._broken(name, counts))}
        for name, problem in broken.items():
            _say(f"{name}: recorded as finished, but {problem}: redoing its shard")
        records.forget(sorted(broken))
        return set(current) - set(broken)

    def stage(self, name: str, rows: pa.Table, quarantine: pa.Table | None, counts: Mapping[str, Any]) -> None:
        """Stage one shard's rows in the table, then record its quarantine and counts (in a write task)."""
        staged = self.store().stage(name, rows, self.run)
        self.records.record(name, quarantine, {**counts, "staged": staged})

    def finished(self) -> dict[str, dict[str, Any]]:
        """``{part: counts}`` of the shards done so far, whichever run did them."""
        return self.records.finished()

    def forget(self, names: Sequence[str]) -> None:
        self.records.forget(names)

    def finish(self, shards: Sequence[Shard], this_run: Mapping[str, Any], complete: bool) -> dict[str, Any]:
        """Publish every planned shard as one version when ``complete`` (and this output publishes), then write the
        manifest: config, provenance, per-shard counts of every shard whichever run wrote it, totals, this run's
        summary and what the publish did. Returns what the publish did ({} when it did not)."""
        planned = {shard.name for shard in shards}
        per_shard = {name: counts for name, counts in sorted(self.finished().items()) if name in planned}
        manifest = {
            "config": dict(self.snapshot),
            "provenance": dict(self.provenance),
            "shards": {name: {k: v for k, v in counts.items() if k != "staged"} for name, counts in per_shard.items()},
            "totals": {
                key: sum(c.get(key, 0) for c in per_shard.values())
                for key in ("rows_in", "rows_out", "rows_quarantined")
            },
            "failed": dict(this_run.get("failed", {})),
            "this_run": dict(this_run),
            "records": self.records.url,
        }
        whole = complete and planned <= set(per_shard)  # published only whole, whatever the caller believes
        published = publish_together([self], manifest) if whole and self.publishes else {}
        self.records.write_json(MANIFEST, {**manifest, **({"published": published} if published else {})})
        return published

    def _broken(self, name: str, counts: Mapping[str, Any]) -> str | None:
        """Why a finished shard cannot be trusted (see :meth:`resume`); None when it is whole."""
        rows = int(counts.get("rows_quarantined", 0))
        records = self.records
        if rows:
            quarantined = records.read_table(records.quarantine_file(name), ["id"])  # None when it is not there
            if quarantined is None:
                return f"its quarantine file is missing ({rows} rows recorded)"
            found = quarantined.num_rows
            if found != rows:
                return f"its quarantine file holds {found} rows, not the {rows} recorded"
        return self.store().check_staged(name, counts.get("staged") or {}, self.run)


def publish_together(outputs: Sequence[Output], details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Publish every shard the ``outputs`` staged (all into the first one's table, under its staging id) as one
    version, in one atomic step, index built first; ``{store, version, rows, published}``.

    The publish is named by the run and its shards (:func:`~pipeline.io.stores.publish_id`): a rerun after a
    publish whose manifest was never written finds the table already carrying that name, and publishes nothing
    twice; a shard redone since (its input changed) makes it a new publish.
    """
    first = outputs[0]
    finished = {name: counts for output in outputs for name, counts in output.finished().items()}
    staged = {name: counts.get("staged") or {} for name, counts in sorted(finished.items())}
    named = {
        **first.provenance,
        "publish_id": publish_id(first.run, {name: counts.get("shard", "") for name, counts in finished.items()}),
    }
    return {"store": first.describe(), **first.store().publish(staged, named, first.index, first.run, details)}


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


__all__ = ["Output", "publish_together"]
