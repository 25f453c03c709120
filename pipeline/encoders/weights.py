"""Load model weights from a local file without ever unpickling arbitrary objects.

A ``.pth`` checkpoint is a pickle, and a plain ``torch.load`` of a pickle runs whatever code it names. Every
checkpoint an encoder reads therefore goes through :func:`load_state_dict_file`: ``.safetensors`` files through
safetensors, anything else through ``torch.load(..., weights_only=True)`` with no fallback to a full unpickle.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

__all__ = ["load_state_dict_file", "load_weights_into"]

# Training scripts wrap the weights: Lightning and open_clip's trainer under "state_dict", torchvision's reference
# scripts under "model". Either wrapper is unpacked when its value is itself a dict.
_WRAPPER_KEYS = ("state_dict", "model")
_SHOWN = 5  # key names quoted in an error message
_RESAVE = "re-save it as a plain state_dict: torch.save(model.state_dict(), path), or safetensors' save_file"


def _read(path: Path) -> object:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def _reason(e: BaseException) -> str:
    """The informative part of a load error, without torch's advice to retry with ``weights_only=False``."""
    text = str(e)
    marker = "WeightsUnpickler error:"
    if marker in text:
        # torch wraps the actual refusal ("Unsupported global: GLOBAL os.system ...") in a paragraph suggesting
        # the unsafe retry; quote only the refusal.
        text = text[text.index(marker) + len(marker) :].strip().split(". ")[0]
    text = " ".join(text.split())
    return f"{type(e).__name__}: {text[:300]}"


def _unwrap(checkpoint: object) -> object:
    if isinstance(checkpoint, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(checkpoint.get(key), dict):
                return checkpoint[key]
    return checkpoint


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from a local ``.safetensors`` or ``torch.save`` file, on the CPU.

    Args:
        path: Local file.

    Returns:
        ``{parameter name: tensor}``, with a ``state_dict``/``model`` wrapper unpacked and a DataParallel
        ``module.`` prefix removed.

    Raises:
        ValueError: The file is missing, corrupt, needs a full unpickle (it holds more than tensors and plain
            containers), or holds no tensors. The message says how to re-save it.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Weights file {str(path)!r} does not exist (or is not a file); pass a local file path.")
    try:
        checkpoint = _unwrap(_read(path))
    # UnpicklingError: the file names a class or function outside torch's weights-only allow-list, which is exactly
    # what must not be executed. The others are corrupt or truncated files.
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        raise ValueError(
            f"Cannot load weights from {str(path)!r} safely (weights_only=True): {_reason(e)}. "
            f"If you trust the file, {_RESAVE}."
        ) from e
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise ValueError(f"{str(path)!r} holds {type(checkpoint).__name__}, not a state dict; {_RESAVE}.")
    bad = [k for k, v in checkpoint.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{str(path)!r} is not a state dict: entries {bad[:_SHOWN]} are not named tensors; {_RESAVE}.")
    if all(k.startswith("module.") for k in checkpoint):
        checkpoint = {k[len("module.") :]: v for k, v in checkpoint.items()}
    return checkpoint


def load_weights_into(model: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``model`` strictly: every parameter and buffer must be present and fit.

    A partial load would leave random weights behind and give plausible-looking but meaningless vectors, so a
    mismatch is an error, not a warning.

    Args:
        model: The freshly built module.
        state: From :func:`load_state_dict_file`.
        what: How to name the model and file in an error, e.g. ``"resnet18 from /w/r18.pth"``.

    Raises:
        ValueError: Keys are missing or unexpected, or a tensor has the wrong shape.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{len(missing)} missing (e.g. {missing[:_SHOWN]})" if missing else "",
            f"{len(unexpected)} unexpected (e.g. {unexpected[:_SHOWN]})" if unexpected else "",
            f"{len(shapes)} with the wrong shape (e.g. {shapes[:_SHOWN]})" if shapes else "",
        ]
        raise ValueError(
            f"The weights do not fit {what}: "
            + "; ".join(p for p in parts if p)
            + ". Check that the architecture and its config match the ones the file was saved from."
        )
    model.load_state_dict(state, strict=True)
