"""The ``evaluate`` job's config: a labeled set in two spaces, the estimators, sweeps and draws."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from pipeline.config import ExecutionConfig, SourceConfig
from pipeline.encoders import EncoderConfig
from pipeline.quality.decoders import list_decoders
from pipeline.translate.config import TranslatorConfig


@dataclasses.dataclass(frozen=True)
class EvalSpaceConfig:
    """One space of the evaluation set: a table of its embeddings, or the encoder that makes them.

    Attributes:
        table: embedding table (file or ``embed`` output directory) holding every item of the set.
        encoder: embeds the job's ``corpus`` into this space (with the ``embed`` job, into ``work_dir``).
        storage_options: fsspec options for ``table``.
    """

    table: str | None = None
    encoder: EncoderConfig | None = None
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def problems(self) -> list[str]:
        if (self.table is None) == (self.encoder is None):
            return ["table: give exactly one of table (embeddings) or encoder (to embed the corpus)"]
        return []


@dataclasses.dataclass(frozen=True)
class LabelsConfig:
    """Where each item's class comes from.

    Attributes:
        path: a table of ids and labels; omitted, the label is the first folder of each id (a text or image
            folder laid out one folder per class, like the packaged BBC News).
        format, id_column, label_column: how to read ``path``.
    """

    path: str | None = None
    format: Literal["parquet", "jsonl", "csv"] = "parquet"
    id_column: str = "id"
    label_column: str = "label"
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RetrievalSetConfig:
    """A retrieval set: queries and the documents they should find, paired by id (query i finds document i).

    Both are embedded in both spaces, to score a migrated index as it is used: the target model's queries
    against translated documents, and the target's queries translated back against the untouched old index.

    Attributes:
        queries: e.g. the titles of a text folder (``text_column: title``).
        documents: e.g. the bodies of the same files (``text_column: body``).
        anchor_queries: also score every translator fitted on anchors that hold each anchor document's query
            beside the document (twice the pairs, from the same anchor items), reported as ``<label> +
            queries``. Anchors of documents alone never see a query-like input; with titles, MiniLM -> mpnet
            went from 0.962 to 0.968 of native Recall@10 and mpnet -> MiniLM from 0.973 to 0.982 (corpus
            translated, ``auto``).
        anchor_passages: also score every translator fitted on the anchor documents and their paragraphs
            (pipeline.io.passages; about five per BBC News article), reported as ``<label> + passages``: more
            pairs from the same anchor items, and no queries needed: 0.971 and 0.987 (corpus translated,
            ``auto``). Text documents only.
    """

    queries: SourceConfig
    documents: SourceConfig
    anchor_queries: bool = False
    anchor_passages: bool = False

    def problems(self) -> list[str]:
        found = [
            f"{key}: needs a text_column or image_column to embed"
            for key in ("queries", "documents")
            if getattr(self, key).modality == "vector"
        ]
        if self.anchor_passages and self.documents.modality != "text":
            found.append(
                f"anchor_passages: paragraphs are cut from text documents; these are {self.documents.modality}s"
            )
        return found


def _default_translators() -> dict[str, TranslatorConfig]:
    # Whitened Procrustes as each objective's grid holds it (fully colored for index, half for retrieval), so the
    # table says what auto's choosing costs or gains against fixing that candidate; `auto (index)` is what the
    # jobs that write translated tables fit.
    return {
        "irp (defaults)": TranslatorConfig("irp"),
        "irp (paper's plain pinv)": TranslatorConfig("irp", {"delta": None, "subspaces": 1}),
        "procrustes": TranslatorConfig("procrustes"),
        "procrustes (whitened)": TranslatorConfig("procrustes", {"scaling": "whitened"}),
        "procrustes (whitened, half coloring)": TranslatorConfig(
            "procrustes", {"scaling": "whitened", "coloring": 0.5}
        ),
        "ridge": TranslatorConfig("ridge"),
        "blend": TranslatorConfig("blend"),
        "auto": TranslatorConfig("auto"),
        "auto (index)": TranslatorConfig("auto", {"objective": "index"}),
        "auto (cosine)": TranslatorConfig("auto", {"objective": "cosine"}),
    }


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """The ``evaluate`` job: every estimator, both directions, on a labeled set.

    Attributes:
        spaces: exactly two named spaces; each is evaluated as source and as target.
        corpus: the labeled items (texts or images), needed when a space names an encoder.
        retrieval: queries and documents scored as a migrated index is searched (needs every space's encoder).
        labels: where the classes come from.
        anchor_tables: space -> anchor table, paired on id across the spaces: the draws take their anchors from
            these items. Empty: anchors are drawn from the evaluation set's train split.
        translators: label -> translator block, each scored in the main table.
        anchors, test, draws: anchors per draw (from the train split), held-out rows, random anchor draws.
        anchor_sweep: anchor counts of the accuracy-vs-anchors sweep (irp, procrustes, ridge).
        deltas, subspaces: the IRP grid; ``null`` in deltas is no pruning.
        decoders: ``logistic`` and/or ``mlp`` (pipeline.quality.decoders).
        decoupled: also score the decoupled form (receiver inverse fitted on its own unpaired vectors).
        output: directory of ``report.md``, ``report.json`` and the PNG plots.
        work_dir: where embeddings made by the job go: reused by a rerun, replaced when the corpus or an encoder
            changes.
    """

    spaces: Mapping[str, EvalSpaceConfig]
    corpus: SourceConfig | None = None
    retrieval: RetrievalSetConfig | None = None
    labels: LabelsConfig = dataclasses.field(default_factory=LabelsConfig)
    anchor_tables: Mapping[str, str] = dataclasses.field(default_factory=dict)
    translators: Mapping[str, TranslatorConfig] = dataclasses.field(default_factory=_default_translators)
    anchors: int = 800
    test: int = 725
    draws: int = 5
    anchor_sweep: tuple[int, ...] = (100, 200, 400, 800, 1200)
    deltas: tuple[float | None, ...] = (None, 0.5, 0.6, 0.7, 0.8)
    subspaces: tuple[int, ...] = (1, 8, 32)
    decoders: tuple[str, ...] = ("logistic", "mlp")
    decoupled: bool = True
    seed: int = 0
    output: str = "docs/evaluation"
    work_dir: str = "out/evaluate"
    execution: ExecutionConfig = dataclasses.field(default_factory=lambda: ExecutionConfig(actors=2))

    def problems(self) -> list[str]:
        found = [] if len(self.spaces) == 2 else [f"spaces: name exactly two, got {list(self.spaces)}"]
        if self.anchor_tables and set(self.anchor_tables) != set(self.spaces):
            found.append(
                f"anchor_tables: name one table per space {sorted(self.spaces)}, got {sorted(self.anchor_tables)}"
            )
        if any(space.encoder is not None for space in self.spaces.values()) and self.corpus is None:
            found.append("corpus: required when a space embeds it (encoder)")
        if self.retrieval is not None and any(space.encoder is None for space in self.spaces.values()):
            found.append("retrieval: every space needs an encoder, to embed the queries and documents")
        found += [
            f"decoders: unknown decoder {name!r}; choose from {list_decoders()}"
            for name in self.decoders
            if name not in list_decoders()
        ]
        found += [
            f"{key}: must be >= {low}"
            for key, low in (("anchors", 3), ("test", 2), ("draws", 1))
            if getattr(self, key) < low
        ]
        return found
