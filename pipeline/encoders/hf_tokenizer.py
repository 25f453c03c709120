"""The CPU half of a transformers text encoder: tokenize texts into unpadded token rows, without the model.

It runs where the model does not: in the engine's preparation tasks, on the CPUs of the node, so the process
that holds the GPU runs only the forward pass (:meth:`pipeline.encoders.hf_text.HFTextEncoder.encode_tokens`).
It loads the tokenizer files alone, never the weights.

Two backends make the same token ids. Where the model directory's ``tokenizer.json`` alone defines the
tokenizer (:mod:`pipeline.encoders.hf_tokenizer_files`), the Rust ``tokenizers`` library runs it directly: it
imports in 0.02 s, where ``transformers`` imports torch and takes 6 s in each fresh preparation process. Anything
else goes through ``transformers.AutoTokenizer``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.encoders.batching import Ragged, ragged_from_lists
from pipeline.encoders.hf_tokenizer_files import TokenizerFiles, read_tokenizer_files
from pipeline.encoders.specs import is_int

__all__ = ["HFTokenizer", "resolve_max_length"]

# Tokenizers that declare no limit report int(1e30) as model_max_length; anything this large is "no limit".
_NO_LIMIT = 1_000_000


def resolve_max_length(model_dir: str, model_max_length: Any, explicit: int | None) -> int:
    """Token limit to truncate to: explicit, else sentence-transformers' own, else the tokenizer's.

    sentence-transformers truncates to ``max_seq_length`` from ``sentence_bert_config.json`` (256 for
    all-MiniLM-L6-v2, 384 for all-mpnet-base-v2), below the tokenizer's 512; vectors only match its vectors when
    we truncate at the same place.

    Args:
        model_dir: The model directory.
        model_max_length: The tokenizer's declared limit (``None`` or a huge int where it declares none).
        explicit: The spec's ``max_length``.
    """
    if explicit is not None:
        return explicit
    declared = model_max_length if is_int(model_max_length) and model_max_length < _NO_LIMIT else None
    st_config = Path(model_dir) / "sentence_bert_config.json"
    if st_config.is_file():
        try:
            value = json.loads(st_config.read_text()).get("max_seq_length")
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{st_config} is unreadable; fix or delete it, or set max_length.") from e
        if is_int(value) and value > 0:
            return value if declared is None else min(value, declared)
    if declared is None:
        raise ValueError(f"The tokenizer of {model_dir} declares no length limit; set max_length explicitly.")
    return declared


class HFTokenizer:
    """Tokenizes for one :class:`~pipeline.encoders.hf_spec.HFTextSpec`.

    Attributes:
        backend: ``"tokenizers"`` (``tokenizer.json`` run directly) or ``"transformers"`` (``AutoTokenizer``).
        max_length: the truncation limit (see :func:`resolve_max_length`).
        columns: the token columns it makes: ``input_ids``, plus ``token_type_ids`` where the tokenizer makes
            them (the encoder drops that column for a model whose forward does not take it).
        pad_values: the pad id of each column. It matters: RoBERTa-style models (mpnet) number positions by
            counting tokens that are not the pad id.
    """

    def __init__(self, spec: Any) -> None:
        files = None if spec.trust_remote_code else read_tokenizer_files(spec.model)
        self.backend = "tokenizers" if files is not None else "transformers"
        if files is None:
            files = _auto_tokenizer_files(spec)
        self.max_length = resolve_max_length(spec.model, files.model_max_length, spec.max_length)
        self.columns: tuple[str, ...] = ("input_ids", "token_type_ids") if files.makes_token_types else ("input_ids",)
        self.pad_values = {"input_ids": files.pad_id, "token_type_ids": 0}
        make = _tokenizers_encoder if self.backend == "tokenizers" else _transformers_encoder
        self._encode = make(files.tokenizer, self.max_length, self.columns)

    def tokenize(self, texts: Sequence[str]) -> Ragged:
        """Tokenize without padding, truncating at ``max_length``: ``n`` texts -> ``n`` rows of token ids."""
        return ragged_from_lists(self._encode(list(texts)))


Encode = Callable[[list[str]], dict[str, list[list[int]]]]


def _tokenizers_encoder(tokenizer: Any, max_length: int, columns: tuple[str, ...]) -> Encode:
    """``texts -> {column: rows of ids}``, running a ``tokenizers.Tokenizer`` (``tokenizer.json``) directly."""
    # tokenizer.json files often carry the exporter's own truncation (128 in sentence-transformers' exports) and
    # fixed-length padding; ours replace them.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)

    def encode(texts: list[str]) -> dict[str, list[list[int]]]:
        encodings = tokenizer.encode_batch(texts)
        out = {"input_ids": [e.ids for e in encodings]}
        if "token_type_ids" in columns:
            out["token_type_ids"] = [e.type_ids for e in encodings]
        return out

    return encode


def _transformers_encoder(tokenizer: Any, max_length: int, columns: tuple[str, ...]) -> Encode:
    """The same through a transformers tokenizer."""

    def encode(texts: list[str]) -> dict[str, list[list[int]]]:
        enc = tokenizer(
            texts,
            truncation=True,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids="token_type_ids" in columns,
        )
        return {name: enc[name] for name in columns}

    return encode


def _auto_tokenizer_files(spec: Any) -> TokenizerFiles:
    """Load through ``AutoTokenizer``, for tokenizers that ``tokenizer.json`` alone does not define."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.model, trust_remote_code=spec.trust_remote_code)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        # Decoder-only checkpoints ship without a pad token; any id works as padding because the mask hides it.
        pad_id = tokenizer.eos_token_id
    return TokenizerFiles(
        tokenizer=tokenizer,
        model_max_length=tokenizer.model_max_length,
        makes_token_types="token_type_ids" in tokenizer.model_input_names,
        pad_id=0 if pad_id is None else int(pad_id),
    )
