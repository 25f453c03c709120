"""Load a transformers encoder for :mod:`pipeline.encoders.hf_text`: precision, attention, inputs."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from transformers import AutoModel

from pipeline.encoders.specs import PRECISIONS, resolve_precision

if TYPE_CHECKING:
    from transformers import PreTrainedModel

TORCH_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def torch_dtype(precision: str, device: str) -> torch.dtype:
    """The weights' torch dtype for a spec's ``precision`` on ``device``.

    ``"auto"`` is bfloat16 on CUDA (the tensor cores' fast path, with float32's exponent range where float16
    can overflow) and float32 elsewhere, where vectors match the float32 reference. CPUs with bf16 units can
    run ``"bf16"`` faster (cosine to float32 about 0.9999 for MiniLM); it is asked for, never assumed.
    """
    resolved = resolve_precision(precision, device)
    try:
        return TORCH_DTYPES[resolved]
    except KeyError as e:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.") from e


def load_model(spec: Any, dtype: torch.dtype) -> tuple[PreTrainedModel, str]:
    """Load the bare encoder in ``dtype`` on the spec's device, with SDPA attention where it exists, else eager.

    Asking for SDPA and falling back on the ValueError is the one check that stays true as transformers adds
    SDPA to more architectures (MPNet lacks it in transformers 5); a list of model types would go stale. If the
    error had another cause, the eager load raises it again. Weights are cast rather than run under autocast:
    half the bytes and no per-op casts, while ``HFTextEncoder._forward`` pools in float32 either way. The cast is
    unconditional so that the dtype never depends on how the checkpoint was saved.
    """
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    try:
        model = AutoModel.from_pretrained(spec.model, attn_implementation="sdpa", **kwargs)
        impl = "sdpa"
    except ValueError:
        model = AutoModel.from_pretrained(spec.model, attn_implementation="eager", **kwargs)
        impl = "eager"
    # from_pretrained already returns eval mode; said again because dropout would make vectors random.
    return model.eval().to(device=spec.device, dtype=dtype), impl


def token_columns(made: Sequence[str], model: torch.nn.Module) -> tuple[str, ...]:
    """``input_ids``, plus ``token_type_ids`` where the tokenizer makes them (in ``made``) and the model's forward
    takes them."""
    takes = inspect.signature(model.forward).parameters
    extra = ("token_type_ids",) if "token_type_ids" in made and "token_type_ids" in takes else ()
    return ("input_ids", *extra)
