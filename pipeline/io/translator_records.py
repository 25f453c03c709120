"""The fitted translator kept in an output's records (``<records>/translator/``), and whether the parts already
written were translated by the map fitted now.

A job refits its translator on every run, resumed or not. The same anchors and options give the same map, but
a newer package may not (a changed default, a better estimator): parts written before and after would then sit
in one table translated by two maps. The driver asks :func:`translator_change` before it resumes, and redoes
every part when the map moved.
"""

from __future__ import annotations

import tempfile

import numpy as np

from pipeline.io.folder import Folder
from pipeline.io.records import TRANSLATOR_DIR
from pipeline.translate import AffinePlan, FittedTranslator, load_translator, save_translator

# A refit of the same map on another machine or thread count differs in the last bits of its float32 arrays;
# a different map differs in the leading ones.
RELATIVE_TOLERANCE = 1e-4


def keep_translator(records: Folder, translator: FittedTranslator) -> None:
    """Keep the fitted translator (and the ``auto`` CV table) in ``<records>/translator/``, on any filesystem."""
    with tempfile.TemporaryDirectory() as local:
        save_translator(translator, local)
        records.fs.put(f"{local}/", f"{records.path(TRANSLATOR_DIR)}/", recursive=True)


def translator_change(records: Folder, translator: FittedTranslator) -> str | None:
    """How the map ``translator`` applies differs from the saved one's; None when it is the same map, or when
    none is saved yet (a new output). One that cannot be read counts as different: nothing vouches for the parts.

    Only the plan decides, since it alone makes the vectors: its flags exactly, its arrays to
    :data:`RELATIVE_TOLERANCE` of their largest value. Options spelled another way for the same map redo nothing.
    """
    if not records.exists(TRANSLATOR_DIR):
        return None
    try:
        saved = _read_translator(records)
    except ValueError as e:
        return f"the saved translator cannot be read ({e})"
    moved = _plan_difference(saved.plan, translator.plan)
    if moved is None:
        return None
    return f"{moved}: {saved.method} {dict(saved.options)} then, {translator.method} {dict(translator.options)} now"


def _plan_difference(before: AffinePlan, now: AffinePlan) -> str | None:
    if before.flags() != now.flags():
        return f"plan settings {before.flags()} against {now.flags()}"
    for name, was in before.arrays().items():
        is_now = now.arrays()[name]
        scale = max(float(np.abs(was).max(initial=0.0)), float(np.finfo(np.float32).tiny))
        if was.shape != is_now.shape or float(np.abs(was - is_now).max(initial=0.0)) > RELATIVE_TOLERANCE * scale:
            return f"its {name} moved"
    return None


def _read_translator(records: Folder) -> FittedTranslator:
    with tempfile.TemporaryDirectory() as local:
        records.fs.get(f"{records.path(TRANSLATOR_DIR)}/", f"{local}/", recursive=True)
        return load_translator(local)
