"""The ``gpu_check`` job: the encoder's CUDA path and the fused translation plan measured on one GPU, without Ray.

- ``job``: the command line and the report; ``probes``: the measurements (CUDA encoder path, fused plan, bf16
  parity).
"""

from pipeline.jobs.gpu_check.job import main, run

__all__ = ["main", "run"]
