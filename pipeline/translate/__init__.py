"""The translation core: pure math that maps embeddings between spaces through anchor-relative projections.

No Ray and no storage IO happen here (artifacts.py writes only the directory it is handed). The modules form
one acyclic stack, bottom to top: checks, fingerprint, functional, options, plan -> projector -> estimators ->
auto -> translators -> artifacts. Public API::

    from pipeline.translate import fit_translator, load_translator, save_translator, RelativeProjector
    t = fit_translator(source_anchors, target_anchors, method="auto")   # (k, d_s), (k, d_t), rows paired
    y = t.transform(x)                                                 # (n, d_s) -> (n, d_t) float32
    save_translator(t, directory); load_translator(directory).transform(x)
"""

from pipeline.translate.artifacts import load_projector, load_translator, save_projector, save_translator
from pipeline.translate.checks import bad_rows
from pipeline.translate.fingerprint import fingerprint_arrays
from pipeline.translate.plan import AffinePlan
from pipeline.translate.projector import RelativeProjector, compose_plan
from pipeline.translate.translators import (
    FittedTranslator,
    Translator,
    fit_translator,
    list_methods,
    method_options,
    parse_method_options,
)

__all__ = [
    "AffinePlan",
    "FittedTranslator",
    "RelativeProjector",
    "Translator",
    "bad_rows",
    "compose_plan",
    "fingerprint_arrays",
    "fit_translator",
    "list_methods",
    "load_projector",
    "load_translator",
    "method_options",
    "parse_method_options",
    "save_projector",
    "save_translator",
]
