"""A LanceDB table (a Lance dataset ``<path>/<table>.lance``) as a :class:`~pipeline.io.stores.base.VectorStore`.

Write tasks write Lance fragments into the dataset's data folder; nothing references them until the driver
publishes. Publishing builds the new version aside and swaps it in with one commit:

1. a *detached* ``Overwrite`` commit of the staged fragments (not on the main line; no reader sees it),
2. the index trained on that detached version and committed to it, still detached,
3. ``Restore`` of that detached version onto the main line: one commit that brings data, index and provenance.

So readers see the old table or the new one with its index, never a table without one. A table that does not
exist yet is first created empty (Lance cannot detach from nothing), so it is briefly listed with no rows.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import IndexSpec
from pipeline.io.stores.base import CONTENT_HASH_COLUMN, PROVENANCE_KEY, StoreRef
from pipeline.io.stores.rows import normalize_rows, sql_in_lists
from pipeline.io.tables import EMBEDDING_COLUMN, ID_COLUMN

# Lance logs a warning per write task when it stages the first fragments of a new table; that is expected here.
os.environ.setdefault("LANCE_LOG", "error")
LANCE_METRICS = {"cosine": "cosine", "l2": "L2", "dot": "dot"}
LANCE_INDEX_TYPES = {"ivf_pq": "IVF_PQ", "ivf_hnsw_sq": "IVF_HNSW_SQ"}
INDEX_NAME = "embedding_idx"
PQ_TRAINING_ROWS = 256  # an 8-bit PQ codebook needs at least this many rows to train


class LanceStore:
    """One LanceDB table. Every method opens the dataset afresh, so the object ships to tasks as a plain ref."""

    def __init__(self, ref: StoreRef) -> None:
        self.ref = ref
        self.uri = f"{ref.path.rstrip('/')}/{ref.table}.lance"
        self.options = {str(k): str(v) for k, v in ref.storage_options.items()} or None

    def exists(self) -> bool:
        return self.dataset() is not None

    def stage(self, part: str, rows: pa.Table, run: str) -> dict[str, Any]:
        """Write ``rows`` as fragments of the dataset, unreferenced until publish; returns their metadata."""
        from lance.fragment import write_fragments

        rows = normalize_rows(rows)
        # "overwrite": the publish replaces the table, so its fragments need not match the live schema (a model
        # upgrade publishes vectors of another width).
        fragments = write_fragments(rows, self.uri, schema=rows.schema, mode="overwrite", storage_options=self.options)
        return {
            "rows": rows.num_rows,
            "fragments": [fragment.to_json() for fragment in fragments],
            "schema": _schema_json(rows.schema),
        }

    def publish(
        self,
        staged: Mapping[str, Mapping[str, Any]],
        provenance: Mapping[str, Any],
        index: IndexSpec | None,
        run: str,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        import lance
        from lance.fragment import FragmentMetadata

        live = self.dataset()
        if live is not None and self.provenance().get("publish_id") == provenance.get("publish_id"):
            return {"version": live.version, "rows": live.count_rows(), "published": False}
        schema = _schema_from_json(next(iter(staged.values()))["schema"]).with_metadata(
            {PROVENANCE_KEY: json.dumps(dict(provenance))}
        )
        fragments = [
            FragmentMetadata.from_json(json.dumps(f)) for part in sorted(staged) for f in staged[part]["fragments"]
        ]
        if live is None:
            live = lance.write_dataset(schema.empty_table(), self.uri, storage_options=self.options)
        aside = lance.LanceDataset.commit(
            self.uri,
            lance.LanceOperation.Overwrite(schema, fragments),
            read_version=live.version,
            detached=True,
            storage_options=self.options,
        )
        rows = aside.count_rows()
        if index is not None:
            aside = self._index_aside(aside, index, rows)
        published = lance.LanceDataset.commit(
            self.uri,
            lance.LanceOperation.Restore(aside.version),
            read_version=live.version,
            storage_options=self.options,
        )
        return {"version": published.version, "rows": rows, "published": True}

    def _index_aside(self, aside: Any, index: IndexSpec, rows: int) -> Any:
        """Train ``index`` on the detached version and commit it there, still detached."""
        import lance

        if rows < PQ_TRAINING_ROWS:
            raise ValueError(
                f"{self.ref.describe()}: an {index.kind} index needs at least {PQ_TRAINING_ROWS} rows "
                f"to train, the table has {rows}; drop the index block for a table this small"
            )
        dim = aside.schema.field(EMBEDDING_COLUMN).type.list_size
        built = aside.create_index_uncommitted(
            EMBEDDING_COLUMN,
            LANCE_INDEX_TYPES[index.kind],
            name=INDEX_NAME,
            metric=LANCE_METRICS[index.metric],
            num_partitions=index.num_partitions or ivf_partitions(rows),
            num_sub_vectors=index.num_sub_vectors or sub_vectors(dim),
            fragment_ids=[fragment.fragment_id for fragment in aside.get_fragments()],
        )
        return lance.LanceDataset.commit(
            self.uri,
            lance.LanceOperation.CreateIndex([built], []),
            read_version=aside.version,
            detached=True,
            storage_options=self.options,
        )

    def check_staged(self, part: str, staged: Mapping[str, Any], run: str) -> str | None:
        """Staged Lance fragments are removed only by a publish or :meth:`discard`: trusted."""
        return None

    def discard(self, run: str) -> None:
        """Unpublished fragments are files no version references; Lance's ``cleanup_old_versions`` removes them."""

    def provenance(self) -> dict[str, Any]:
        dataset = self.dataset()
        raw = None if dataset is None else (dataset.schema.metadata or {}).get(PROVENANCE_KEY.encode())
        return json.loads(raw) if raw else {}

    def upsert(self, rows: pa.Table) -> dict[str, int]:
        import lance

        rows = normalize_rows(rows)
        dataset = self.dataset()
        if dataset is None:
            lance.write_dataset(rows, self.uri, storage_options=self.options)
            return {"inserted": rows.num_rows, "updated": 0, "unchanged": 0}
        result = (
            dataset.merge_insert(ID_COLUMN)
            .when_matched_update_all(f"target.{CONTENT_HASH_COLUMN} != source.{CONTENT_HASH_COLUMN}")
            .when_not_matched_insert_all()
            .execute(rows)
        )
        inserted, updated = int(result["num_inserted_rows"]), int(result["num_updated_rows"])
        return {"inserted": inserted, "updated": updated, "unchanged": rows.num_rows - inserted - updated}

    def merge(self, upserts: pa.Table, deletes: Sequence[Any]) -> dict[str, Any]:
        """Upserts and deletes in one ``merge_insert`` commit: matched ids replaced, new ids inserted, and the
        target rows the source does not have deleted when their id is in ``deletes``."""
        import lance

        rows = normalize_rows(upserts)
        dataset = self.dataset()
        if dataset is None:  # the first night: nothing to delete from
            if not rows.num_rows:
                return {"version": None, "upserted": 0, "deleted": 0}
            created = lance.write_dataset(rows, self.uri, storage_options=self.options)
            return {"version": created.version, "upserted": rows.num_rows, "deleted": 0}
        builder = dataset.merge_insert(ID_COLUMN).when_matched_update_all().when_not_matched_insert_all()
        if len(deletes):
            builder = builder.when_not_matched_by_source_delete(" OR ".join(sql_in_lists(ID_COLUMN, deletes)))
        result = builder.execute(rows)
        return {
            "version": self.dataset().version,
            "deleted": int(result["num_deleted_rows"]),
            "upserted": int(result["num_inserted_rows"]) + int(result["num_updated_rows"]),
        }

    def delete(self, ids: Sequence[Any]) -> int:
        dataset = self.dataset()
        if dataset is None or not ids:
            return 0
        before = dataset.count_rows()
        for predicate in sql_in_lists(ID_COLUMN, ids):
            dataset.delete(predicate)
        return before - dataset.count_rows()

    def read(self, columns: Sequence[str] | None = None, ids: Sequence[Any] | None = None) -> pa.Table:
        dataset = self.dataset()
        if dataset is None:
            raise FileNotFoundError(f"{self.ref.describe()}: no such table")
        key = self.ref.id_column
        id_filter = None if ids is None else pc.field(key).isin(pa.array(list(ids), dataset.schema.field(key).type))
        return dataset.to_table(columns=list(columns) if columns else None, filter=id_filter)

    def dataset(self, version: int | None = None) -> Any:
        import lance

        try:
            return lance.dataset(self.uri, version=version, storage_options=self.options)
        except (ValueError, FileNotFoundError, OSError):
            return None  # no committed version: nothing published yet


def ivf_partitions(rows: int) -> int:
    """IVF lists: about sqrt(rows), but each list keeps at least 256 rows to train its centroid."""
    return max(1, min(round(math.sqrt(rows)), rows // PQ_TRAINING_ROWS))


def sub_vectors(dim: int) -> int:
    """PQ sub-vectors: the largest divisor of ``dim`` up to d/8 (Lance's default d/16 loses too much recall)."""
    return max(s for s in range(1, max(1, dim // 8) + 1) if dim % s == 0)


def _schema_json(schema: pa.Schema) -> str:
    return schema.serialize().to_pybytes().hex()


def _schema_from_json(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(text)))
