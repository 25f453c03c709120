"""The fitted translator kept beside an output (``<output>/_translator/``), and whether the parts already there
were translated by the map fitted now.

A job refits its translator on every run, resumed or not. The same anchors and options give the same map, but
a newer package may not (a changed default, a better estimator): parts written before and after would then sit
in one table translated by two maps. The driver asks :func:`translator_change` before it resumes, and redoes
every part when the map moved.
"""

from __future__ import annotations

import tempfile

import numpy as np

from pipeline.io.sink import OutputDir
from pipeline.translate import FittedTranslator, load_translator, save_translator

TRANSLATOR_DIR = "_translator"
# A refit of the same map on another machine or thread count differs in the last bits of its float32 arrays;
# a different map differs in the leading ones.
RELATIVE_TOLERANCE = 1e-4


def save_translator_next_to(output: OutputDir, translator: FittedTranslator) -> None:
    """Keep the fitted translator (and the ``auto`` CV table) in ``<output>/_translator/``, on any filesystem."""
    with tempfile.TemporaryDirectory() as local:
        save_translator(translator, local)
        output.fs.put(f"{local}/", f"{output.root}/{TRANSLATOR_DIR}/", recursive=True)


def translator_change(output: OutputDir, translator: FittedTranslator) -> str | None:
    """How ``translator`` differs from the one saved beside ``output``; None when it is the same map, or when
    none is saved yet (a new output). One that cannot be read counts as different: nothing vouches for the parts.

    Method and options are compared as written; the plan's arrays to :data:`RELATIVE_TOLERANCE` of their
    largest value, and its flags exactly.
    """
    folder = f"{output.root}/{TRANSLATOR_DIR}"
    if not output.fs.exists(folder):
        return None
    try:
        saved = _read_translator(output, folder)
    except ValueError as e:
        return f"the saved translator cannot be read ({e})"
    if (saved.method, dict(saved.options)) != (translator.method, dict(translator.options)):
        return f"{saved.method} {dict(saved.options)} then, {translator.method} {dict(translator.options)} now"
    if saved.plan.flags() != translator.plan.flags():
        return f"plan settings {saved.plan.flags()} then, {translator.plan.flags()} now"
    for name, before in saved.plan.arrays().items():
        now = translator.plan.arrays()[name]
        scale = max(float(np.abs(before).max(initial=0.0)), np.finfo(np.float32).tiny)
        if before.shape != now.shape or float(np.abs(before - now).max(initial=0.0)) > RELATIVE_TOLERANCE * scale:
            return f"the fitted map's {name} moved"
    return None


def _read_translator(output: OutputDir, folder: str) -> FittedTranslator:
    with tempfile.TemporaryDirectory() as local:
        output.fs.get(f"{folder}/", f"{local}/", recursive=True)
        return load_translator(local)
