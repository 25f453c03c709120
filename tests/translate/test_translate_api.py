"""The public API of the translation core: methods, auto selection, bad input, and artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.translate import (
    RelativeProjector,
    fingerprint_arrays,
    fit_translator,
    list_methods,
    load_projector,
    load_translator,
    save_projector,
    save_translator,
)
from pipeline.translate import scores as S
from pipeline.translate.auto import choose, default_candidates, describe, fold_partitions, gap_se
from pipeline.translate.estimators import ESTIMATORS
from pipeline.translate.options import BlendOptions, ProcrustesOptions


@pytest.fixture
def anchors():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(200, 12))
    source = latent @ rng.normal(size=(12, 24)) + 0.1 * rng.normal(size=(200, 24)) + 1.0
    target = latent @ rng.normal(size=(12, 16)) + 0.1 * rng.normal(size=(200, 16)) - 2.0
    return source, target


def test_methods_are_listed():
    assert set(list_methods()) >= {"irp", "procrustes", "ridge", "auto"}


@pytest.mark.parametrize("method", ["irp", "procrustes", "ridge", "auto"])
def test_every_method_translates_to_float32_of_the_target_dim(anchors, method):
    source, target = anchors
    t = fit_translator(source, target, method)
    y = t.transform(source[:7])
    assert y.shape == (7, 16) and y.dtype == np.float32
    assert (t.source_dim, t.target_dim) == (24, 16)
    # Quality is tested against oracles and on real models; here only "clearly better than the mean".
    assert S.centered_cosine(y.astype(np.float64), target[:7], target.mean(0)).mean() > 0.5


def test_auto_for_cosine_prefers_a_general_linear_map_when_the_target_is_not_a_rotation():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(300, 10))
    stretch = rng.normal(size=(10, 10)) @ np.diag(np.geomspace(10, 0.1, 10))  # far from orthogonal
    target = source @ stretch + 0.01 * rng.normal(size=(300, 10))
    t = fit_translator(source, target, "auto", folds=4, objective="cosine")
    assert t.method == "ridge"
    table = t.report["auto"]["cv"]
    ridge_best = max(row["centered_cosine"] for row in table if row["method"] == "ridge")
    procrustes_best = max(row["centered_cosine"] for row in table if row["method"] == "procrustes")
    assert ridge_best > procrustes_best + 0.05
    assert t.report["auto"]["selected"] == {"method": t.method, "options": dict(t.options)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_objective_decides_retrieval_picks_procrustes_where_shrunk_ridge_wins_on_cosine(seed):
    """Ridge models the stretch (better centered cosine) but shrinks towards a large mean, so raw-cosine neighbors
    blur; Procrustes keeps the radius and finds the right row."""
    rng = np.random.default_rng(seed)
    source = rng.normal(size=(400, 32))
    rotation, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    target = source @ rotation @ np.diag(np.geomspace(3, 0.3, 32)) + rng.normal(size=(400, 32)) + 2.0
    candidates = [{"method": "procrustes"}, {"method": "ridge", "alpha": 1.0}]
    by_retrieval = fit_translator(source, target, "auto", candidates=candidates)  # the default objective
    by_cosine = fit_translator(source, target, "auto", candidates=candidates, objective="cosine")
    assert (by_retrieval.method, by_cosine.method) == ("procrustes", "ridge")
    table = {row["method"]: row for row in by_retrieval.report["auto"]["cv"]}
    assert table["procrustes"]["mrr"] > table["ridge"]["mrr"] + 0.2
    assert table["ridge"]["centered_cosine"] > table["procrustes"]["centered_cosine"] + 0.05
    # Every metric for every candidate, with its standard error over folds, whatever decided.
    for row in table.values():
        metrics = ("mrr", "top1", "cluster_agreement", "centered_cosine")
        assert all(key in row for m in metrics for key in (m, f"{m}_se"))
    assert by_retrieval.report["auto"]["objective"] == "retrieval" and by_retrieval.report["auto"]["metric"] == "mrr"


def cv_row(method: str, rank: float, folds: list[float]) -> dict:
    values = np.array(folds)
    return {
        "method": method,
        "isometry_rank": rank,
        "mrr": values.mean(),
        "mrr_se": values.std(ddof=1) / np.sqrt(len(values)),
        "mrr_folds": folds,
    }


def test_near_ties_go_to_the_more_isometric_candidate():
    hard_and_easy_folds = np.array([0.95, 0.93, 0.96, 0.94, 0.97])  # every candidate shares the folds
    rows = [
        cv_row("ridge", 3.0, list(hard_and_easy_folds + 0.005)),
        cv_row("blend", 1.5, list(hard_and_easy_folds + np.array([0.010, -0.004, 0.008, -0.003, 0.006]))),  # noisy gap
        cv_row("procrustes", 0.0, list(hard_and_easy_folds)),  # 0.005 behind, fold after fold
        {"method": "irp", "error": "too few anchors"},
    ]
    assert choose(rows, "mrr") == 1
    # Procrustes' own spread (0.007) would call its gap a tie; the folds resolve it, so it does not win.
    assert rows[2]["mrr"] >= rows[0]["mrr"] - rows[0]["mrr_se"]
    rows[1]["mrr_folds"] = list(hard_and_easy_folds + 0.001)
    rows[1]["mrr"] = float(np.mean(rows[1]["mrr_folds"]))  # now 0.004 behind on every fold: the best mean wins
    assert choose(rows, "mrr") == 0


def test_among_procrustes_scalings_the_better_score_wins_a_near_tie_and_a_blend_does_not():
    """Every Procrustes scaling fits one orthogonal map to the pairs, so all rank as simple; a blend fits more."""
    rank = ESTIMATORS["procrustes"].isometry_rank
    folds = np.array([0.95, 0.93, 0.96, 0.94, 0.97])
    rows = [
        cv_row("procrustes", rank(ProcrustesOptions("isotropic")), list(folds)),
        cv_row(
            "procrustes",
            rank(ProcrustesOptions("whitened", coloring=0.5)),
            list(folds + np.array([0.010, -0.006, 0.009, -0.004, 0.006])),
        ),
        cv_row(
            "blend",
            ESTIMATORS["blend"].isometry_rank(BlendOptions()),
            list(folds + np.array([0.012, -0.010, 0.011, -0.009, 0.016])),
        ),
    ]  # the best mean, unresolved
    assert all(rows[2]["mrr"] - row["mrr"] < gap_se(rows[2], row, "mrr") for row in rows[:2])
    assert choose(rows, "mrr") == 1


def test_only_retrieval_tries_translations_that_do_not_keep_the_target_covariance(anchors):
    """Half-colored translations find their native vectors best but sit apart from native rows in an index:
    ``index`` (what the table-writing jobs fit) and the other objectives compare fully colored maps only."""
    source, target = anchors
    colorings = {}
    for objective in ("retrieval", "index", "classification", "cosine"):
        t = fit_translator(source, target, "auto", objective=objective, folds=4, repeats=1)
        whitened = [row["options"] for row in t.report["auto"]["cv"] if row["options"].get("scaling") == "whitened"]
        colorings[objective] = sorted(options["coloring"] for options in whitened)
    assert colorings == {"retrieval": [0.5], "index": [1.0], "classification": [1.0], "cosine": [1.0]}
    grids = {
        objective: [c for c in default_candidates(objective) if c.get("scaling") != "whitened"]
        for objective in ("retrieval", "index")
    }
    assert grids["retrieval"] == grids["index"]  # the grids differ in that candidate only


def test_auto_scores_every_fold_of_every_partition(anchors):
    source, target = anchors
    partitions = fold_partitions(source, target, folds=4, repeats=3, seed=0)
    assert len({tuple(np.sort(folds[0])) for folds in partitions}) == 3  # three different shuffles
    for folds in partitions:  # each a partition of every anchor
        np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(len(source)))
    t = fit_translator(source, target, "auto", folds=4, repeats=3, candidates=[{"method": "procrustes"}])
    assert t.report["auto"]["repeats"] == 3 and len(t.report["auto"]["cv"][0]["mrr_folds"]) == 12
    assert "3 x 4-fold CV" in describe(t.report["auto"])


def test_auto_depends_on_the_anchor_pairs_not_their_row_order(anchors):
    """Anchors paired on id arrive in id order; the same pairs in any order give the same folds, the same CV
    table and the same translator."""
    source, target = anchors
    order = np.random.default_rng(5).permutation(len(source))
    first = fit_translator(source, target, "auto")
    second = fit_translator(source[order], target[order], "auto")
    assert (first.method, first.options) == (second.method, second.options)
    for a, b in zip(first.report["auto"]["cv"], second.report["auto"]["cv"], strict=True):
        assert a["mrr_folds"] == pytest.approx(b["mrr_folds"], abs=1e-9)
    x = source[:5] + 0.1
    np.testing.assert_allclose(first.transform(x), second.transform(x), rtol=1e-5, atol=1e-5)


def test_auto_prefers_procrustes_for_a_noisy_rotation_with_few_anchors():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(40, 30))
    rotation, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    target = source @ rotation + 0.3 * rng.normal(size=(40, 30))
    candidates = [{"method": "procrustes"}, {"method": "ridge", "alpha": 0.0}]
    t = fit_translator(source, target, "auto", candidates=candidates)
    assert t.method == "procrustes"  # unregularized ridge overfits 30x30 weights on 32 anchors per fold


def test_auto_records_candidates_that_cannot_fit_and_still_chooses(anchors):
    source, target = anchors
    candidates = [{"method": "irp", "delta": None, "subspaces": 1}, {"method": "procrustes"}]
    t = fit_translator(source[:15], target[:15], "auto", folds=3, candidates=candidates)
    assert t.method == "procrustes"
    assert "d+1" in t.report["auto"]["cv"][0]["error"]


@pytest.mark.parametrize(
    ("source_fix", "target_fix", "message"),
    [
        (lambda a: a.__setitem__((3, 1), np.nan), None, "non-finite"),
        (None, lambda a: a.__setitem__((5, 0), np.inf), "non-finite"),
        (lambda a: a.__setitem__(4, 0.0), None, "zero vector"),
    ],
)
def test_bad_anchor_values_are_rejected_with_their_rows(anchors, source_fix, target_fix, message):
    source, target = (a.copy() for a in anchors)
    for fix, array in ((source_fix, source), (target_fix, target)):
        if fix:
            fix(array)
    with pytest.raises(ValueError, match=message) as error:
        fit_translator(source, target, "procrustes")
    assert "first: [" in str(error.value)


def test_all_anchor_problems_are_reported_at_once(anchors):
    source, target = anchors[0].copy(), anchors[1][:150].copy()
    source[2] = np.nan
    target[7] = 0.0
    with pytest.raises(ValueError) as error:
        fit_translator(source, target, "ridge")
    text = str(error.value)
    assert "source_anchors: 1 row(s) with a non-finite" in text
    assert "target_anchors: 1 row(s) with a zero vector" in text
    assert "paired rows: source has 200, target has 150" in text


def test_too_few_anchors_for_the_plain_pseudo_inverse(anchors):
    source, target = anchors
    with pytest.raises(ValueError, match="at least d\\+1 = 17 anchors"):
        fit_translator(source[:16], target[:16], "irp", delta=None, subspaces=1)
    fit_translator(source[:16], target[:16], "irp", delta=None, subspaces=1, ridge=0.1)  # Tikhonov is fine
    fit_translator(source[:16], target[:16], "irp")  # so is pruning
    # A space with too few anchors for its own inverse can still send: only the receiver needs one.
    sender = RelativeProjector.fit(source[:16], delta=None, subspaces=1)
    assert sender.to_relative(source[:2]).shape == (2, 16)
    with pytest.raises(ValueError, match="at least d\\+1 = 25 anchors"):
        sender.from_relative(sender.to_relative(source[:2]))


def test_transform_rejects_wrong_dims_and_bad_rows(anchors):
    source, target = anchors
    t = fit_translator(source, target, "irp")
    with pytest.raises(ValueError, match="has 16 dims but this translator expects 24"):
        t.transform(target[:3])
    batch = source[:6].copy()
    batch[2] = np.nan
    batch[4] = 0.0
    with pytest.raises(ValueError) as error:
        t.transform(batch)
    assert "first: [2]" in str(error.value) and "first: [4]" in str(error.value)
    with pytest.raises(ValueError, match="equal the source anchor mean"):
        t.transform(source.mean(0, keepdims=True))


def test_options_are_strict_and_all_problems_are_reported(anchors):
    source, target = anchors
    with pytest.raises(ValueError, match="unknown translation method 'pinv'"):
        fit_translator(source, target, "pinv")
    with pytest.raises(TypeError) as error:
        fit_translator(source, target, "irp", detla=0.5, subspaces="8")
    assert error.value.problems == ["detla: unknown key (did you mean 'delta'?)", "subspaces: must be int, got '8'"]
    with pytest.raises(ValueError) as error:
        fit_translator(source, target, "irp", delta=1.5, subspaces=0, aspect_limit=1.0)
    assert "delta must be in (0, 1]" in str(error.value) and "subspaces must be >= 1" in str(error.value)
    assert "aspect_limit must be in (0, 1) or None; got 1.0" in str(error.value)
    with pytest.raises(ValueError, match="candidate 0: unknown method 'lasso'"):
        fit_translator(source, target, "auto", candidates=[{"method": "lasso"}])


@pytest.mark.parametrize("method", ["irp", "procrustes", "ridge", "auto"])
def test_save_and_load_round_trip_exactly(anchors, tmp_path, method):
    source, target = anchors
    t = fit_translator(source, target, method)
    directory = save_translator(t, tmp_path / method)
    loaded = load_translator(directory, expected_fingerprint=fingerprint_arrays(source, target))
    np.testing.assert_array_equal(loaded.transform(source), t.transform(source))
    assert (loaded.method, dict(loaded.options)) == (t.method, dict(t.options))
    assert loaded.state.keys() == t.state.keys()
    if method == "auto":
        assert loaded.report["auto"]["cv"] == json.loads(json.dumps(t.report["auto"]["cv"]))


def test_projector_round_trip(anchors, tmp_path):
    source, _ = anchors
    projector = RelativeProjector.fit(source, delta=0.6, subspaces=3)
    loaded = load_projector(save_projector(projector, tmp_path / "p"))
    np.testing.assert_array_equal(loaded.to_relative(source), projector.to_relative(source))
    relative = projector.to_relative(source[:5])
    np.testing.assert_array_equal(loaded.from_relative(relative), projector.from_relative(relative))
    assert loaded.options == projector.options


def test_loading_names_what_is_wrong(anchors, tmp_path):
    source, target = anchors
    directory = save_translator(fit_translator(source, target, "ridge"), tmp_path / "t")
    with pytest.raises(ValueError, match=r"fitted on anchors .* refit"):
        load_translator(directory, expected_fingerprint=fingerprint_arrays(target, source))

    header = json.loads((directory / "translator.json").read_text())
    (directory / "translator.json").write_text(json.dumps({**header, "target_dim": 99, "format_version": 7}))
    with pytest.raises(ValueError) as error:
        load_translator(directory)
    assert "format_version 7 is not supported" in str(error.value)
    assert "plan.matrix has shape (24, 16), expected (24, 99)" in str(error.value)

    (directory / "translator.json").write_text(json.dumps(header))
    weights = directory / "translator.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(ValueError, match="does not match the checksum"):
        load_translator(directory)
    weights.unlink()
    with pytest.raises(ValueError, match=r"missing translator\.safetensors"):
        load_translator(directory)


def test_artifacts_are_json_and_safetensors_only(anchors, tmp_path):
    source, target = anchors
    # 20 anchors in 24 source dims: the source anchor matrix is rank deficient, its condition number infinite.
    t = fit_translator(source[:20], target[:20], "irp", delta=None, subspaces=1, ridge=0.1)
    directory = save_translator(t, tmp_path / "t")
    assert sorted(p.name for p in directory.iterdir()) == ["translator.json", "translator.safetensors"]

    def reject(token):
        raise AssertionError(f"non-standard JSON token {token}")

    header = json.loads((directory / "translator.json").read_text(), parse_constant=reject)
    assert header["format"] == "irp-pipeline.translator" and header["method"] == "irp"
    assert header["report"]["source"]["anchor_condition_number"] == "inf"
    assert np.isfinite(header["report"]["target"]["anchor_condition_number"])


def test_artifacts_written_with_the_old_normalise_spelling_still_load(anchors, tmp_path):
    source, target = anchors
    t = fit_translator(source, target, "irp")
    directory = save_translator(t, tmp_path / "t")
    header = json.loads((directory / "translator.json").read_text())
    assert header["plan"]["in_normalize"] is True and "in_normalise" not in header["plan"]
    header["plan"] = {"in_normalise": True, "out_normalise": True, "out_scale": header["plan"]["out_scale"]}
    (directory / "translator.json").write_text(json.dumps(header))  # as release 0.1.0 wrote it
    np.testing.assert_array_equal(load_translator(directory).transform(source[:5]), t.transform(source[:5]))


def test_the_british_coloring_key_is_refused_naming_the_new_one_and_old_artifacts_load(anchors, tmp_path):
    source, target = anchors
    with pytest.raises(ValueError, match="colouring: renamed to coloring; write coloring"):
        fit_translator(source, target, "procrustes", scaling="whitened", colouring=0.5)
    t = fit_translator(source, target, "procrustes", scaling="whitened", coloring=0.5)
    directory = save_translator(t, tmp_path / "t")
    header = json.loads((directory / "translator.json").read_text())
    assert header["options"]["coloring"] == 0.5
    header["options"] = {("colouring" if key == "coloring" else key): value for key, value in header["options"].items()}
    (directory / "translator.json").write_text(json.dumps(header))  # as an artifact of the British spelling
    loaded = load_translator(directory)
    assert loaded.options["coloring"] == 0.5 and "colouring" not in loaded.options
    np.testing.assert_array_equal(loaded.transform(source[:5]), t.transform(source[:5]))
