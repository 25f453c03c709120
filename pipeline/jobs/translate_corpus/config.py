"""The ``translate_corpus`` job's config: the corpus, and per target its anchors, translator and output table."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pipeline.config import ExecutionConfig, OutputConfig, SourceConfig, overlap_problems, package_path_problems
from pipeline.encoders import EncoderConfig
from pipeline.translate.config import TranslatorConfig


@dataclasses.dataclass(frozen=True)
class AnchorsConfig:
    """The shared anchors of one target: embedding tables joined on ``id``, or an anchor set the job embeds.

    Attributes:
        target: anchor table in the target space (a Parquet file or an ``embed`` output directory).
        source: anchor table in the source space. Omit it to take the source side from the corpus rows whose ids
            are anchors (a vector-store migration embeds only the new side), or, for a raw corpus with an anchor
            ``set``, to embed the set with the job's encoder.
        set: the anchor items themselves (ids plus text or images), embedded by the job with the ``embed``
            machinery into the output's records (``<records>/anchors/``); instead of ``target``.
        target_encoder: the target model, which embeds ``set`` in the target space.
        passages: also cut the set's texts into paragraphs (pipeline.io.passages) and fit on them beside the
            whole texts: about five more pairs per BBC News article, from the same items. Both models embed
            them, so it needs a text set and the job's encoder (a raw corpus). On BBC News it lifted the
            migrated index's Recall@10 by 0.01-0.03 of native, to 0.97-0.99 (docs/evaluation/report.md).
        storage_options: fsspec options for the tables; never written to logs or manifests.
    """

    target: str | None = None
    source: str | None = None
    set: SourceConfig | None = None
    target_encoder: EncoderConfig | None = None
    passages: bool = False
    storage_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def problems(self) -> list[str]:
        if (self.target is None) == (self.set is None):
            return ["target: give exactly one of target (an anchor table) or set (anchor items the job embeds)"]
        if self.set is not None and self.target_encoder is None:
            return ["target_encoder: required with set, to embed the anchor set in the target space"]
        if self.set is None and self.target_encoder is not None:
            return ["target_encoder: only used with set; drop it, or give the anchor set"]
        if self.set is not None and self.set.modality == "vector":
            return ["set: anchor items need a text_column or image_column to embed"]
        if self.passages and (self.set is None or self.set.modality != "text" or self.source is not None):
            return [
                "passages: paragraphs are cut from an anchor set of texts and embedded by both models; give "
                "a set with a text_column and no source table"
            ]
        return [*package_path_problems("target", self.target), *package_path_problems("source", self.source)]


@dataclasses.dataclass(frozen=True)
class TargetConfig:
    """One target space of a ``translate_corpus`` job: its anchors, its translator and its output table.

    Attributes:
        anchors: the anchors shared with the source space.
        output: where the translated table goes.
        translator: the estimator; the job's top-level ``translator`` when omitted.
    """

    anchors: AnchorsConfig
    output: OutputConfig
    translator: TranslatorConfig | None = None


@dataclasses.dataclass(frozen=True)
class TranslateConfig:
    """The ``translate_corpus`` job: a corpus into other models' spaces through shared anchors.

    A source that holds vectors (``vector_column``) is translated without touching any model. A source of texts
    or images names an ``encoder``; each actor then encodes once and translates into every target in one pass.
    One target is given by top-level ``anchors`` and ``output``; several by ``targets``, a mapping of names to
    ``{anchors, output, translator}``. ``source_output`` also writes the source-space vectors.

    Attributes:
        source: the corpus: stored vectors (``vector_column``), or texts or images to encode.
        anchors, output: the one target's anchors and output table (or name several under ``targets``).
        translator: the estimator (``auto`` chooses by cross-validation on the anchors, for an index's rows).
        targets: several targets by name, each ``{anchors, output, translator}``.
        source_output: also write the corpus's source-space vectors here (a raw corpus only).
        encoder: the source model, for a corpus of texts or images.
        execution: how the job runs on Ray.
    """

    source: SourceConfig
    anchors: AnchorsConfig | None = None
    output: OutputConfig | None = None
    translator: TranslatorConfig = dataclasses.field(default_factory=TranslatorConfig)
    targets: Mapping[str, TargetConfig] = dataclasses.field(default_factory=dict)
    source_output: OutputConfig | None = None
    encoder: EncoderConfig | None = None
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)

    def target_list(self) -> dict[str, TargetConfig]:
        """Every target by name, each with its translator filled in."""
        if not self.targets:
            assert self.anchors is not None and self.output is not None  # problems() refuses a config without
            return {"target": TargetConfig(self.anchors, self.output, self.translator)}
        return {
            name: dataclasses.replace(target, translator=target.translator or self.translator)
            for name, target in self.targets.items()
        }

    def problems(self) -> list[str]:
        found = self._shape_problems()
        if self.source.modality == "vector" and self.encoder is not None:
            found.append("encoder: the source already holds vectors (vector_column); drop the encoder block")
        if self.source.modality != "vector" and self.encoder is None:
            found.append(f"encoder: required to embed the source's {self.source.content_column} column")
        if self.source_output is not None and self.encoder is None:
            found.append("source_output: the source vectors already exist; only a raw corpus writes them")
        if found:
            return found
        for name, target in self.target_list().items():
            where = f"targets.{name}.anchors" if self.targets else "anchors"
            if target.anchors.source is None and target.anchors.set is None and self.source.modality != "vector":
                found.append(
                    f"{where}.source: required unless the corpus holds the source vectors "
                    "(vector_column) or the job embeds an anchor set"
                )
            if target.anchors.passages and self.encoder is None:
                found.append(
                    f"{where}.passages: the source model must embed the paragraphs too, and a corpus of "
                    "stored vectors names none; add them to the anchor set as rows of their own, with a "
                    "source table of their old vectors"
                )
        outputs = [target.output.place for target in self.target_list().values()]
        outputs += [self.source_output.place] if self.source_output else []
        if len(set(outputs)) != len(outputs):
            key = "targets" if self.targets else "source_output.path"
            named = [place.table or place.path for place in outputs]
            found.append(f"{key}: every output needs its own path (or table); got {named}")
        places = {
            f"targets.{name}.output" if self.targets else "output": target.output.place
            for name, target in self.target_list().items()
        }
        if self.source_output is not None:
            places["source_output"] = self.source_output.place
        return found + overlap_problems(self.source.place, places)

    def _shape_problems(self) -> list[str]:
        if self.targets:
            given = [key for key in ("anchors", "output") if getattr(self, key) is not None]
            return [f"{key}: give it per target under targets.<name>, not beside targets" for key in given]
        return [
            f"{key}: required (or name several targets under targets)"
            for key in ("anchors", "output")
            if getattr(self, key) is None
        ]
