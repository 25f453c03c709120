"""Decoders that consume a space's embeddings: the probes the stitched-accuracy protocol trains on native vectors.

``logistic`` is the usual linear probe; ``mlp`` is the small classifier of the relative-representations papers
(LayerNorm, one hidden layer). Both expose ``predict(x) -> labels``. Registry: ``DECODERS``, ``list_decoders()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np


class Decoder(Protocol):
    """Anything that labels ``(n, d)`` vectors of the space it was trained on."""

    def predict(self, x: np.ndarray) -> np.ndarray: ...


def train_logistic(x: np.ndarray, labels: np.ndarray, seed: int = 0) -> Decoder:
    """A multinomial logistic regression on the raw embeddings, the usual linear probe of a space.

    No feature standardization on purpose: a standardizer divides by each coordinate's spread, so a translation
    that leaks a little energy into the target's near-constant coordinates gets that leak amplified into wrong
    labels, although the translation serves the target's index well. Consumers use raw embeddings too.
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=3000, random_state=seed).fit(x, labels)


class MLPDecoder:
    """LayerNorm -> Linear(d, hidden) -> SiLU -> Linear(hidden, classes), trained with Adam on full batches.

    The LayerNorm makes it indifferent to the scale and offset of each vector, as in the relative-representation
    papers' classifiers, so it judges what a translation keeps of the direction.
    """

    def __init__(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        seed: int = 0,
        hidden: int = 256,
        epochs: int = 200,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
    ) -> None:
        import torch

        self.classes, targets = np.unique(labels, return_inverse=True)
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        dim = x.shape[1]
        self.model = torch.nn.Sequential(
            torch.nn.LayerNorm(dim),
            torch.nn.Linear(dim, hidden),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden, len(self.classes)),
        )
        inputs = torch.as_tensor(x, dtype=torch.float32)
        target = torch.as_tensor(targets, dtype=torch.long)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        for _ in range(epochs):  # a few thousand rows: full-batch steps are fast and deterministic
            order = torch.randperm(len(inputs), generator=generator)
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.model(inputs[order]), target[order])
            loss.backward()
            optimizer.step()
        self.model.eval()

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            scores = self.model(torch.as_tensor(np.asarray(x), dtype=torch.float32))
        return self.classes[scores.argmax(dim=1).numpy()]


def train_mlp(x: np.ndarray, labels: np.ndarray, seed: int = 0) -> Decoder:
    return MLPDecoder(x, labels, seed=seed)


DECODERS: dict[str, Callable[..., Decoder]] = {"logistic": train_logistic, "mlp": train_mlp}


def list_decoders() -> list[str]:
    return sorted(DECODERS)


def train_decoder(name: str, x: np.ndarray, labels: np.ndarray, seed: int = 0) -> Any:
    """Train decoder ``name`` on ``x: (n, d)`` with ``labels: (n,)``.

    Raises:
        ValueError: unknown decoder name.
    """
    if name not in DECODERS:
        raise ValueError(f"unknown decoder {name!r}; choose from {list_decoders()}")
    return DECODERS[name](x, labels, seed=seed)
