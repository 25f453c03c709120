"""Encode texts with a Hugging Face transformers model: tokenise, forward, pool, optionally L2-normalise.

The pieces are split so that faster paths can replace one at a time: :func:`plan_batches` (later: token-budget
buckets of a few fixed shapes), :meth:`HFTextEncoder._tokenize` (later: parallel tokeniser workers feeding the
model) and :meth:`HFTextEncoder._forward` (later: bf16 on CUDA). :func:`pool` and :func:`invalid_text_rows` are
pure and shared with the pipeline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

__all__ = [
    "POOLINGS",
    "HFTextEncoder",
    "HFTextSpec",
    "build_hf_text_encoder",
    "check_texts",
    "invalid_text_rows",
    "plan_batches",
    "pool",
    "resolve_max_length",
]

Pooling = Literal["mean", "cls", "last"]
POOLINGS: tuple[str, ...] = ("mean", "cls", "last")
# Tokenizers that declare no limit report int(1e30) as model_max_length; anything this large is "no limit".
_NO_LIMIT = 1_000_000


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class HFTextSpec:
    """What to load and how to pool.

    Attributes:
        model: Local model directory (or a hub id where a hub is reachable).
        pooling: ``"mean"`` over real tokens, ``"cls"`` (first token) or ``"last"`` (last real token).
        normalize: L2-normalise each output row.
        max_length: Truncate to this many tokens. ``None``: ``max_seq_length`` from sentence-transformers'
            ``sentence_bert_config.json`` when the directory has one, else the tokenizer's ``model_max_length``.
        batch_size: Texts per forward pass.
        trust_remote_code: Run model code shipped with the checkpoint. Off unless asked: it executes that code.
        device: Torch device string, e.g. ``"cpu"`` or ``"cuda:0"``.
    """

    model: str
    pooling: Pooling = "mean"
    normalize: bool = True
    max_length: int | None = None
    batch_size: int = 64
    trust_remote_code: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.model, os.PathLike):
            # Stored as str so that specs compare, hash and serialise the same however the path was given.
            object.__setattr__(self, "model", os.fspath(self.model))
        if not isinstance(self.model, str) or not self.model:
            raise TypeError(f"model must be a model directory or hub id (a non-empty str), got {self.model!r}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}.")
        for name in ("normalize", "trust_remote_code"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be true or false, got {getattr(self, name)!r}.")
        if self.max_length is not None and (not _is_int(self.max_length) or self.max_length < 2):
            raise ValueError(f"max_length must be an int >= 2 (room for the special tokens) or None, got "
                             f"{self.max_length!r}.")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}.")


def invalid_text_rows(texts: Sequence[object]) -> dict[int, str]:
    """Find rows that cannot be encoded, with the reason for each.

    Args:
        texts: ``n`` candidate texts.

    Returns:
        ``{row index: reason}`` in row order; empty when every row is a non-blank str.
    """
    bad: dict[int, str] = {}
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            bad[i] = f"not a str (got {type(text).__name__})"
        elif not text.strip():
            # A blank text still tokenises (to just the special tokens) but its vector means nothing, and a
            # silent nonsense vector is worse than a quarantined row.
            bad[i] = "empty or whitespace-only"
    return bad


def check_texts(texts: Sequence[object]) -> None:
    """Raise unless every row of ``texts`` can be encoded.

    Raises:
        TypeError: ``texts`` is one string rather than a sequence of them.
        ValueError: Some rows are not non-blank strings; the message names their indices and reasons.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of str, not a single string; wrap it in a list.")
    bad = invalid_text_rows(texts)
    if bad:
        shown = "; ".join(f"row {i}: {why}" for i, why in list(bad.items())[:20])
        more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise ValueError(
            f"{len(bad)} of {len(texts)} texts cannot be encoded, rows {sorted(bad)[:20]}{more}: {shown}. "
            "Drop or fix those rows first; invalid_text_rows() lists them."
        )


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Reduce token states to one vector per text.

    Args:
        hidden: ``(n, t, d)`` last hidden states.
        mask: ``(n, t)`` attention mask, 1 for real tokens and 0 for padding (either side).
        mode: One of :data:`POOLINGS`.

    Returns:
        ``(n, d)`` in ``hidden``'s dtype.
    """
    if mode == "mean":
        # Padding must not dilute the mean. The clamp matches sentence-transformers and guards all-pad rows.
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "last":
        # Index of the last 1 in each mask row, so this holds for left and right padding alike.
        t = mask.shape[1]
        last = t - 1 - mask.flip(dims=[1]).to(torch.int64).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}.")


def plan_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Group rows of similar length so that little of each batch is padding.

    Args:
        lengths: ``(n,)`` a length proxy per row (characters now; token counts once texts are pre-tokenised).
        batch_size: Rows per batch.

    Returns:
        Row-index arrays that together cover ``range(n)`` once each, longest rows first: a batch that runs out
        of memory then fails at the start, not after an hour. The stable sort keeps the plan deterministic.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


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
        if _is_int(value) and value > 0:
            return min(value, tokenizer.model_max_length)
    limit = tokenizer.model_max_length
    if not _is_int(limit) or limit >= _NO_LIMIT:
        raise ValueError(f"The tokenizer of {model_dir} declares no length limit; set max_length explicitly.")
    return limit


def _load_model(spec: HFTextSpec) -> tuple[torch.nn.Module, str]:
    """Load the bare encoder with SDPA attention where the architecture has it, else eager.

    Asking for SDPA and falling back on the ValueError is the one check that stays true as transformers adds
    SDPA to more architectures (MPNet lacks it in transformers 5); a list of model types would go stale. If the
    error had another cause, the eager load raises it again.
    """
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    try:
        model = AutoModel.from_pretrained(spec.model, attn_implementation="sdpa", **kwargs)
        impl = "sdpa"
    except ValueError:
        model = AutoModel.from_pretrained(spec.model, attn_implementation="eager", **kwargs)
        impl = "eager"
    # from_pretrained already returns eval mode; said again because dropout would make vectors random.
    return model.eval().to(spec.device), impl


class HFTextEncoder:
    """A transformers text encoder satisfying :class:`pipeline.encoders.Encoder`.

    Attributes:
        spec: What was loaded.
        dim: Width of the output vectors (the model's hidden size).
        max_length: Token limit in use (see :func:`resolve_max_length`).
        attn_implementation: ``"sdpa"`` or ``"eager"``, as loaded.
    """

    modality = "text"

    def __init__(self, spec: HFTextSpec) -> None:
        self.spec = spec
        self.tokenizer = AutoTokenizer.from_pretrained(spec.model, trust_remote_code=spec.trust_remote_code)
        if self.tokenizer.pad_token is None and self.tokenizer.eos_token is not None:
            # Decoder-only checkpoints ship without a pad token; any id works because the mask hides padding.
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model, self.attn_implementation = _load_model(spec)
        self.dim: int = int(self.model.config.hidden_size)
        self.max_length = resolve_max_length(spec.model, self.tokenizer, spec.max_length)

    def encode(self, texts: Sequence[str], /) -> np.ndarray:
        """Encode texts.

        Args:
            texts: ``n`` non-blank strings.

        Returns:
            ``(n, dim)`` float32, row ``i`` for ``texts[i]`` (batches are formed by length, then scattered back).

        Raises:
            ValueError: Some rows are not non-blank strings (see :func:`invalid_text_rows`).
        """
        check_texts(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        for rows in plan_batches(lengths, self.spec.batch_size):
            out[rows] = self._forward(self._tokenize([texts[i] for i in rows])).numpy()
        return out

    def _tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        )

    @torch.inference_mode()
    def _forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``batch`` tensors ``(b, t)`` -> ``(b, dim)`` float32 on the CPU."""
        batch = {k: v.to(self.spec.device) for k, v in batch.items()}
        hidden = self.model(**batch).last_hidden_state
        vectors = pool(hidden, batch["attention_mask"], self.spec.pooling).float()
        if self.spec.normalize:
            vectors = F.normalize(vectors, p=2.0, dim=1)
        return vectors.cpu()


def build_hf_text_encoder(**options: Any) -> HFTextEncoder:
    """Registry factory: an :class:`HFTextEncoder` from the options of a config's ``encoder`` block.

    Raises:
        TypeError: An option is unknown (the message lists the valid ones) or has the wrong type.
        ValueError: An option has a bad value.
    """
    valid = [f.name for f in fields(HFTextSpec)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"Unknown hf_text encoder option(s) {unknown}; valid options are {valid}.")
    if "model" not in options:
        raise TypeError("The hf_text encoder needs model: a local model directory (or a reachable hub id).")
    return HFTextEncoder(HFTextSpec(**options))
