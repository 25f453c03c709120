"""The config schema of each job; a job's ``main`` loads its schema with ``load_config``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from pipeline.config.blocks import (
    AnchorsConfig,
    EncoderConfig,
    ExecutionConfig,
    OutputConfig,
    SourceConfig,
    TranslatorConfig,
)


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The ``demo`` job: translate between two packaged models on BBC News and score the translations.

    Attributes:
        source_model, target_model: packaged model names (``pipeline.packaged.list_packaged_models()``).
        anchors: anchors drawn from the train split.
        test: held-out articles to translate and score.
        max_chars: characters of each article to embed.
        seed: seeds the split.
        translators: label -> translator block; each is fitted and scored in both directions.
    """

    source_model: str = "all-MiniLM-L6-v2"
    target_model: str = "all-mpnet-base-v2"
    anchors: int = 800
    test: int = 725
    max_chars: int = 512
    seed: int = 0
    translators: Mapping[str, TranslatorConfig] = dataclasses.field(
        default_factory=lambda: {"auto": TranslatorConfig()}
    )

    def problems(self) -> list[str]:
        from pipeline.packaged import list_packaged_models

        found = [
            f"{key}: {getattr(self, key)!r} is not a packaged model; choose from {list_packaged_models()}"
            for key in ("source_model", "target_model")
            if getattr(self, key) not in list_packaged_models()
        ]
        found += [f"{key}: must be >= {low}" for key, low in (("anchors", 3), ("test", 2), ("max_chars", 1))
                  if getattr(self, key) < low]
        return found + (["translators: name at least one"] if not self.translators else [])


@dataclasses.dataclass(frozen=True)
class EmbedConfig:
    """The ``embed`` job: encode a table's text or images into an embedding table (corpora and anchors alike)."""

    source: SourceConfig
    encoder: EncoderConfig
    output: OutputConfig
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)

    def problems(self) -> list[str]:
        if self.source.modality == "vector":
            return ["source: embed needs a text_column or image_column (vectors need no encoding)"]
        return []


@dataclasses.dataclass(frozen=True)
class TranslateConfig:
    """The ``translate_corpus`` job: a corpus into another model's space through shared anchors.

    A source that holds vectors (``vector_column``) is translated without touching any model. A source of texts
    or images names an ``encoder``; each actor then encodes and translates in one pass.
    """

    source: SourceConfig
    anchors: AnchorsConfig
    output: OutputConfig
    translator: TranslatorConfig = dataclasses.field(default_factory=TranslatorConfig)
    encoder: EncoderConfig | None = None
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)

    def problems(self) -> list[str]:
        if self.source.modality == "vector" and self.encoder is not None:
            return ["encoder: the source already holds vectors (vector_column); drop the encoder block"]
        if self.source.modality != "vector" and self.encoder is None:
            return [f"encoder: required to embed the source's {self.source.content_column} column"]
        if self.anchors.source is None and self.source.modality != "vector":
            return ["anchors.source: required unless the corpus holds the source vectors (vector_column)"]
        return []
