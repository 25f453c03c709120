"""A model upgrade in one night: the store, made by another model, is translated into the encoder's space and
published whole, as one version, next to tonight's natively encoded rows.

1. The anchors: unchanged native store rows the scan picked, spread over the corpus, were encoded with tonight's
   new and changed rows (``encoded``); their stored vectors are read by id. The translator is fitted from the
   pairs, and its cross-validated quality is reported.
2. Tasks list, per id partition, the store rows to translate: every row the night keeps that got no native
   vector tonight (``translate/``).
3. A translate job reads those rows from the store and stages them, translated, with ``origin`` ``translated``,
   its publish held back (``<run>/translated``).
4. Tasks stage tonight's native rows under the same staging id (``<run>/native``).
5. Both are published together: the table in the new space, index built first, in one version. The previous
   version stays readable by time travel (LanceDB, Delta). The translator is kept in the store's records
   (``<records>/translator/``): the map its translated rows were made with.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.engine.cluster import run_tasks
from pipeline.engine.driver import run_shard_job
from pipeline.io.folder import Folder
from pipeline.io.output import Output, publish_together
from pipeline.io.records import Records
from pipeline.io.stores import StoreRef, VectorStore
from pipeline.io.tables import vectors_of
from pipeline.io.translator_records import keep_translator
from pipeline.jobs.sync.changes import ENCODED_DIR
from pipeline.jobs.sync.config import SyncConfig
from pipeline.jobs.sync.stages import list_translations, stage_native_part
from pipeline.jobs.sync.summary import describe_translator
from pipeline.provenance import fingerprint
from pipeline.translate import FittedTranslator, fit_translator
from pipeline.translate.auto import cross_validated_quality
from pipeline.version import __version__

TRANSLATED_DIR, NATIVE_DIR = "translated", "native"


@dataclasses.dataclass(frozen=True)
class Upgrade:
    """What the upgrade published: the version, how many rows it translated, and its translator's report."""

    published: Mapping[str, Any]
    translated: int
    translator: Mapping[str, Any]


def upgrade_store(
    config: SyncConfig,
    store: VectorStore,
    records: Folder,
    facts: Mapping[str, str],
    stored_space: str,
    anchors: list[Any],
    native: pa.Table | None,
    seconds: dict[str, float],
    say: Callable[[str], None],
) -> Upgrade:
    """Translate ``store`` (vectors of ``stored_space``) into ``facts["space"]`` and publish it with ``native``."""
    started = time.perf_counter()
    translator, report = fit_on_anchors(config, store, anchors, native)
    say(f"{store.ref.describe()}: {stored_space} -> {facts['space']}: {describe_translator(report)}")
    seconds["fit"] = time.perf_counter() - started
    run_tasks(
        list_translations,
        [
            {"partition": p, "run": records.url, "encoded": f"{records.url}/{ENCODED_DIR}"}
            for p in range(config.partitions)
        ],
        config.execution,
    )
    translated = translation_output(config, store.ref, records, facts, stored_space, translator)
    result = run_shard_job(
        store_source(store.ref),
        EncoderConfig("precomputed", {"dim": translator.source_dim}),
        config.execution,
        [translated],
        keep_ids=f"{records.url}/translate",
    )
    seconds["translate"] = time.perf_counter() - started - seconds["fit"]
    natives = stage_natives(config, records, translated)
    published = publish_together([translated, natives])
    keep_translator(Records(translated.table.records, config.store.storage_options), translator)
    seconds["publish"] = time.perf_counter() - started - seconds["fit"] - seconds["translate"]
    rows = (translated.records.read_json("manifest.json") or {}).get("totals", {}).get("rows_out", result.rows_out)
    return Upgrade(published, rows, report)


def fit_on_anchors(
    config: SyncConfig, store: VectorStore, anchors: list[Any], native: pa.Table | None
) -> tuple[FittedTranslator, dict[str, Any]]:
    """Fit the translator from the anchors' stored (old) and tonight's (new) vectors, paired on id.

    Raises:
        ValueError: too few anchors got a vector on both sides to fit and cross-validate a translator.
    """
    upgrade = config.upgrade
    assert upgrade is not None  # a night upgrades only when the config has an upgrade block
    new = (
        None
        if native is None
        else native.filter(pc.is_in(native.column("id"), value_set=pa.array(anchors, native.schema.field("id").type)))
    )
    old = store.read(columns=["id", "embedding"], ids=anchors)
    if new is None or min(new.num_rows, old.num_rows) < 10:
        raise ValueError(
            f"{store.ref.describe()}: only {0 if new is None else new.num_rows} of "
            f"{upgrade.anchors} anchors were encoded by the new model; a model upgrade needs at least "
            "10 unchanged rows that both models embed (is the store nearly empty?)"
        )
    new, old = new.sort_by("id"), old.filter(pc.is_in(old.column("id"), value_set=new.column("id").combine_chunks()))
    new = new.filter(pc.is_in(new.column("id"), value_set=old.column("id").combine_chunks()))
    source, target = vectors_of(old.sort_by("id").column("embedding")), vectors_of(new.column("embedding"))
    chosen = upgrade.translator.for_index()
    translator = fit_translator(source, target, chosen.method, **chosen.options)
    quality = cross_validated_quality(translator.method, translator.options, translator.report, source, target)
    report = {
        "method": translator.method,
        "options": dict(translator.options),
        "anchors": len(source),
        "quality": {key: value for key, value in quality.items() if isinstance(value, float | int)},
    }
    return translator, report


def translation_output(
    config: SyncConfig,
    ref: StoreRef,
    records: Folder,
    facts: Mapping[str, str],
    stored_space: str,
    translator: FittedTranslator,
) -> Output:
    """The translate job's output: staged into the store, its publish held back, its records in the run."""
    job = fingerprint(
        {
            "run": facts["run"],
            "translate": records.digest("translate"),
            "translator": translator.anchors_fingerprint,
            "method": translator.method,
            "options": dict(translator.options),
        }
    )
    provenance = {
        "space": facts["space"],
        "source_space": stored_space,
        "method": translator.method,
        "translator_options": dict(translator.options),
        "upgraded_by": facts["run"],
        "job_fingerprint": job,
        "package_version": __version__,
    }
    output = dataclasses.replace(config.store, overwrite=True)
    return Output.of(
        output,
        provenance,
        {"run": facts["run"]},
        translator,
        records=f"{records.url}/{TRANSLATED_DIR}",
        content_hash=True,
        row_facts={**facts, "origin": "translated"},
        publishes=False,
    )


def store_source(ref: StoreRef) -> SourceConfig:
    """The store as a job's source: its vectors, and the content hashes they were made from."""
    return SourceConfig(
        ref.path,
        ref.format,
        ref.table or None,
        ref.dsn or None,
        vector_column="embedding",
        content_hash_column="content_hash",
        storage_options=ref.storage_options,
    )


def stage_natives(config: SyncConfig, records: Folder, translated: Output) -> Output:
    """Stage every part of tonight's native rows beside the translated ones, under the same staging id (parts
    staged by a killed attempt are kept)."""
    natives = dataclasses.replace(translated, records_at=f"{records.url}/{NATIVE_DIR}", translator=None, row_facts={})
    natives.claim()
    encoded = Folder(f"{records.url}/{ENCODED_DIR}")
    done = {name.removeprefix("part-native-") for name in natives.finished()}
    parts = [name.removesuffix(".parquet").rsplit("/", 1)[-1] for name in encoded.parquet_files()]
    run_tasks(
        stage_native_part,
        [
            {"encoded": encoded.url, "part": part, "natives": natives}
            for part in parts
            if part.removeprefix("part-") not in done
        ],
        config.execution,
    )
    return natives
