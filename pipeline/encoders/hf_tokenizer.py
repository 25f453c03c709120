"""The CPU half of a transformers text encoder: tokenise texts into unpadded token rows, without the model.

It runs where the model does not: in the engine's preparation tasks, on the CPUs of the node, so the process
that holds the GPU runs only the forward pass (:meth:`pipeline.encoders.hf_text.HFTextEncoder.encode_tokens`).
It loads the tokenizer files alone, never the weights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from pipeline.encoders.batching import Ragged, ragged_from_lists
from pipeline.encoders.specs import is_int

__all__ = ["HFTokenizer", "resolve_max_length"]

# Tokenizers that declare no limit report int(1e30) as model_max_length; anything this large is "no limit".
_NO_LIMIT = 1_000_000


def resolve_max_length(model_dir: str, tokenizer: Any, explicit: int | None) -> int:
    """Token limit to truncate to: explicit, else sentence-transformers' own, else the tokenizer's.

    sentence-transformers truncates to ``max_seq_length`` from ``sentence_bert_config.json`` (256 for
    all-MiniLM-L6-v2, 384 for all-mpnet-base-v2), below the tokenizer's 512; vectors only match its vectors when
    we truncate at the same place.
    """
    if explicit is not None:
        return explicit
    st_config = Path(model_dir) / "sentence_bert_config.json"
    if st_config.is_file():
        try:
            value = json.loads(st_config.read_text()).get("max_seq_length")
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{st_config} is unreadable; fix or delete it, or set max_length.") from e
        if is_int(value) and value > 0:
            return min(value, tokenizer.model_max_length)
    limit = tokenizer.model_max_length
    if not is_int(limit) or limit >= _NO_LIMIT:
        raise ValueError(f"The tokenizer of {model_dir} declares no length limit; set max_length explicitly.")
    return limit


class HFTokenizer:
    """Tokenises for one :class:`~pipeline.encoders.hf_text.HFTextSpec`.

    Attributes:
        tokenizer: the transformers tokenizer, with a pad token (decoder-only checkpoints ship without one).
        max_length: the truncation limit (see :func:`resolve_max_length`).
        columns: the token columns it makes: ``input_ids``, plus ``token_type_ids`` where the tokenizer makes
            them (the encoder drops that column for a model whose forward does not take it).
        pad_values: the pad id of each column.
    """

    def __init__(self, spec: Any) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(spec.model, trust_remote_code=spec.trust_remote_code)
        if self.tokenizer.pad_token is None and self.tokenizer.eos_token is not None:
            # Any id works as padding because the mask hides it.
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_length = resolve_max_length(spec.model, self.tokenizer, spec.max_length)
        made = "token_type_ids" in self.tokenizer.model_input_names
        self.columns: tuple[str, ...] = ("input_ids", "token_type_ids") if made else ("input_ids",)
        pad_id = self.tokenizer.pad_token_id
        self.pad_values = {"input_ids": 0 if pad_id is None else int(pad_id), "token_type_ids": 0}

    def tokenize(self, texts: Sequence[str]) -> Ragged:
        """Tokenise without padding, truncating at ``max_length``: ``n`` texts -> ``n`` rows of token ids."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding=False,
                             return_attention_mask=False,
                             return_token_type_ids="token_type_ids" in self.columns)
        return ragged_from_lists({name: enc[name] for name in self.columns})

