"""The ``embed`` job's config: a source of texts or images, the encoder, the output table."""

from __future__ import annotations

import dataclasses

from pipeline.config import ExecutionConfig, OutputConfig, SourceConfig, overlap_problems
from pipeline.encoders import EncoderConfig


@dataclasses.dataclass(frozen=True)
class EmbedConfig:
    """The ``embed`` job: encode a table's text or images into an embedding table (corpora and anchors alike).

    Attributes:
        source: the rows to embed, and the column that holds their text or images.
        encoder: the model.
        output: the embedding table.
        execution: how the job runs on Ray.
    """

    source: SourceConfig
    encoder: EncoderConfig
    output: OutputConfig
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)

    def problems(self) -> list[str]:
        if self.source.modality == "vector":
            return ["source: embed needs a text_column or image_column (vectors need no encoding)"]
        return overlap_problems(self.source.place, {"output": self.output.place})
