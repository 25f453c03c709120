"""The fused form every fitted translator compiles to: a pre step, one matrix, a post step.

    z = x - in_shift;            if in_normalize:  z = z / ||z||
    y = z @ matrix;              if out_normalize: y = y / ||y||
    y = y * out_scale + out_shift

IRP, Procrustes and ridge all fit this shape (docs/concepts/method.md, step 6), so the execution layer applies any
of them as one matmul per batch, on numpy (CPU) or torch (GPU, optionally bf16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

PLAN_ARRAYS = ("in_shift", "matrix", "out_shift")


@dataclass(frozen=True, eq=False)
class AffinePlan:
    """A translator in fused form. Arrays are float32 and never mutated.

    Attributes:
        in_shift: (d_in,) subtracted from inputs.
        in_normalize: scale centered inputs to unit length.
        matrix: (d_in, d_out).
        out_normalize: scale outputs to unit length before ``out_scale``.
        out_scale: scalar multiplier of the outputs.
        out_shift: (d_out,) added last.
    """

    in_shift: np.ndarray
    in_normalize: bool
    matrix: np.ndarray
    out_normalize: bool
    out_scale: float
    out_shift: np.ndarray

    def __post_init__(self) -> None:
        for name in PLAN_ARRAYS:
            array = np.ascontiguousarray(getattr(self, name), dtype=np.float32)
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        object.__setattr__(self, "out_scale", float(self.out_scale))
        d_in, d_out = self.matrix.shape
        if self.in_shift.shape != (d_in,) or self.out_shift.shape != (d_out,):
            raise ValueError(
                f"plan shapes disagree: matrix {self.matrix.shape}, in_shift {self.in_shift.shape}, "
                f"out_shift {self.out_shift.shape}"
            )

    @property
    def input_dim(self) -> int:
        return self.matrix.shape[0]

    @property
    def output_dim(self) -> int:
        return self.matrix.shape[1]

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Translate a batch on the CPU.  ``x: (n, d_in) -> (n, d_out)`` float32.

        Raises:
            ValueError: an input row has no direction after centring (only when ``in_normalize``).
        """
        z = np.asarray(x, dtype=np.float32) - self.in_shift
        if self.in_normalize:
            norms = np.linalg.norm(z, axis=1, keepdims=True)
            _require_directions(norms[:, 0])
            z /= norms
        y = z @ self.matrix
        if self.out_normalize:
            y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), np.finfo(np.float32).tiny)
        if self.out_scale != 1.0:
            y *= self.out_scale
        y += self.out_shift
        return y

    def to_torch(self, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> TorchPlan:
        """The same plan with its arrays on ``device`` in ``dtype`` (float32 by default), for GPU batches."""
        return TorchPlan(self, device, dtype)

    def arrays(self) -> dict[str, np.ndarray]:
        """The named arrays, for serialization."""
        return {name: getattr(self, name) for name in PLAN_ARRAYS}

    def flags(self) -> dict[str, bool | float]:
        """The non-array settings, for serialization."""
        return {"in_normalize": self.in_normalize, "out_normalize": self.out_normalize, "out_scale": self.out_scale}


class TorchPlan:
    """An :class:`AffinePlan` whose arrays live on a torch device; ``apply`` keeps its input on that device."""

    def __init__(self, plan: AffinePlan, device, dtype) -> None:
        import torch

        self.plan = plan
        self.dtype = dtype or torch.float32
        self.in_shift = torch.tensor(plan.in_shift, device=device, dtype=self.dtype)
        self.matrix = torch.tensor(plan.matrix, device=device, dtype=self.dtype)
        self.out_shift = torch.tensor(plan.out_shift, device=device, dtype=self.dtype)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``x: (n, d_in)`` to ``(n, d_out)``. Norms are taken in float32 even for bf16 inputs."""
        import torch

        z = x.to(self.dtype) - self.in_shift
        if self.plan.in_normalize:
            norms = torch.linalg.vector_norm(z.float(), dim=1, keepdim=True)
            _require_directions(norms[:, 0].cpu().numpy())
            z = (z.float() / norms).to(self.dtype)
        y = z @ self.matrix
        if self.plan.out_normalize:
            norms = torch.linalg.vector_norm(y.float(), dim=1, keepdim=True)
            y = (y.float() / norms.clamp_min(torch.finfo(torch.float32).tiny)).to(self.dtype)
        return y * self.plan.out_scale + self.out_shift


def _require_directions(norms: np.ndarray) -> None:
    bad = np.flatnonzero(~(norms > 0))
    if bad.size:
        raise ValueError(
            f"{bad.size} input row(s) are non-finite or equal the source anchor mean, so they have no direction "
            f"(first: {bad[:5].tolist()}); validate or quarantine them before translating"
        )
