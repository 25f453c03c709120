"""Every estimator against an independent float64 oracle, plus the properties the method promises."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.translate import RelativeProjector, fit_translator
from pipeline.translate import functional as F
from pipeline.translate import scores as S


def rotated_copy(rng: np.random.Generator, k: int, d: int, scale: float = 2.5):
    """Source anchors, a random rotation Q and shift t, and target = scale * source @ Q + t."""
    source = rng.normal(size=(k, d)) + rng.normal(size=d)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    shift = rng.normal(size=d)
    return source, rotation, shift, scale * source @ rotation + shift


def correlated_pair(rng: np.random.Generator, k: int, d_s: int, d_t: int, noise: float = 0.1):
    """Anchors sharing a low-dimensional latent (so they are correlated, like real embeddings), plus noise."""
    latent = rng.normal(size=(k, 16))
    source = latent @ rng.normal(size=(16, d_s)) + noise * rng.normal(size=(k, d_s)) + 3.0
    target = latent @ rng.normal(size=(16, d_t)) + noise * rng.normal(size=(k, d_t)) - 1.0
    return source, target


def unit(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    centered = x - mean
    return centered / np.linalg.norm(centered, axis=1, keepdims=True)


# --- float64 oracles, written from the formulas of docs/concepts/method.md without the library's helpers ------


def irp_oracle(source, target, x, renormalize=True):
    """The paper's literal formula with numpy's own pinv: y = normalize(r pinv(A_t^T)) * s_t + mu_t."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    r = unit(x, mu_s) @ unit(source, mu_s).T
    y_unit = r @ np.linalg.pinv(unit(target, mu_t).T)
    if renormalize:
        y_unit /= np.linalg.norm(y_unit, axis=1, keepdims=True)
    return y_unit * np.linalg.norm(target - mu_t, axis=1).mean() + mu_t


def procrustes_oracle(source, target, x):
    """Isotropic standard scaling, zero padding, scipy's orthogonal Procrustes, back to target units."""
    d_s, d_t = source.shape[1], target.shape[1]
    width = max(d_s, d_t)
    mu_s, mu_t = source.mean(0), target.mean(0)
    sigma_s = np.sqrt(((source - mu_s) ** 2).sum() / source.size)
    sigma_t = np.sqrt(((target - mu_t) ** 2).sum() / target.size)
    pad = lambda a: np.hstack([a, np.zeros((a.shape[0], width - a.shape[1]))])  # noqa: E731
    rotation, _ = scipy.linalg.orthogonal_procrustes(pad((source - mu_s) / sigma_s), pad((target - mu_t) / sigma_t))
    return (pad((x - mu_s) / sigma_s) @ rotation)[:, :d_t] * sigma_t + mu_t


def ridge_oracle(source, target, x, alpha):
    """Ridge with an unpenalized intercept, solved as one augmented normal equation."""
    design = np.hstack([source, np.ones((source.shape[0], 1))])
    centered = source - source.mean(0)
    penalty = np.eye(design.shape[1]) * alpha * (centered**2).sum() / source.shape[1]
    penalty[-1, -1] = 0.0
    coef = np.linalg.solve(design.T @ design + penalty, design.T @ target)
    return np.hstack([x, np.ones((x.shape[0], 1))]) @ coef


def test_plain_irp_matches_the_papers_formula():
    rng = np.random.default_rng(1)
    source, target = correlated_pair(rng, k=120, d_s=24, d_t=40)
    x = rng.normal(size=(30, 24)) + 3.0
    for renormalize in (True, False):
        t = fit_translator(source, target, "irp", delta=None, subspaces=1, renormalize=renormalize)
        np.testing.assert_allclose(t.transform(x), irp_oracle(source, target, x, renormalize), rtol=2e-4, atol=2e-4)


def test_procrustes_matches_scipy():
    rng = np.random.default_rng(2)
    source, target = correlated_pair(rng, k=200, d_s=20, d_t=32)
    x = rng.normal(size=(25, 20)) + 3.0
    t = fit_translator(source, target, "procrustes")
    np.testing.assert_allclose(t.transform(x), procrustes_oracle(source, target, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 0.05, 1.0])
def test_ridge_matches_normal_equations(alpha):
    rng = np.random.default_rng(3)
    source, target = correlated_pair(rng, k=150, d_s=12, d_t=18)
    x = rng.normal(size=(20, 12)) + 3.0
    t = fit_translator(source, target, "ridge", alpha=alpha)
    np.testing.assert_allclose(t.transform(x), ridge_oracle(source, target, x, alpha), rtol=1e-4, atol=1e-4)


def test_ridge_with_restored_scale_keeps_each_direction_at_the_target_radius():
    rng = np.random.default_rng(5)
    source, target = correlated_pair(rng, k=150, d_s=12, d_t=18)
    x = rng.normal(size=(20, 12)) + 3.0
    mu_t = target.mean(0)
    shrunk = ridge_oracle(source, target, x, alpha=1.0) - mu_t
    radius = np.linalg.norm(target - mu_t, axis=1).mean()
    expected = shrunk / np.linalg.norm(shrunk, axis=1, keepdims=True) * radius + mu_t
    t = fit_translator(source, target, "ridge", alpha=1.0, restore_scale=True)
    np.testing.assert_allclose(t.transform(x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_a_blend_is_the_weighted_mean_of_ridge_and_procrustes(weight):
    rng = np.random.default_rng(6)
    source, target = correlated_pair(rng, k=200, d_s=20, d_t=32)
    x = rng.normal(size=(25, 20)) + 3.0
    expected = weight * ridge_oracle(source, target, x, 0.1) + (1 - weight) * procrustes_oracle(source, target, x)
    t = fit_translator(source, target, "blend", weight=weight, alpha=0.1)
    np.testing.assert_allclose(t.transform(x), expected, rtol=1e-4, atol=1e-4)


def test_one_ridge_path_serves_every_alpha_and_gives_the_minimum_norm_solution_at_zero():
    rng = np.random.default_rng(7)
    source, target = rng.normal(size=(40, 12)), rng.normal(size=(40, 5))
    path = F.RidgePath.fit(source, target)
    for alpha in (0.01, 1.0):
        penalty = alpha * np.trace(source.T @ source) / 12
        expected = np.linalg.solve(source.T @ source + penalty * np.eye(12), source.T @ target)
        np.testing.assert_allclose(path.weights(alpha), expected, rtol=1e-9, atol=1e-12)
    deficient = source[:, :6] @ rng.normal(size=(6, 12))  # rank 6 in 12 columns: many least-squares solutions
    np.testing.assert_allclose(F.ridge_linear(deficient, target, 0.0), np.linalg.pinv(deficient) @ target, atol=1e-8)


def test_tikhonov_inverse_matches_regularized_normal_equations():
    rng = np.random.default_rng(4)
    anchors = unit(rng.normal(size=(50, 10)), 0.0)
    ridge = 0.3
    expected = anchors @ np.linalg.inv(anchors.T @ anchors + ridge * np.eye(10))
    basis, condition = F.inverse_relative_basis(anchors, ridge)
    np.testing.assert_allclose(basis, expected, atol=1e-12)
    assert condition == pytest.approx(np.linalg.cond(anchors))


def test_subspace_averaging_matches_explicit_average_of_subset_inverses():
    rng = np.random.default_rng(5)
    _, target = correlated_pair(rng, k=300, d_s=16, d_t=48)
    anchors = unit(target, target.mean(0))
    averaged, subsets, conditions = F.subspace_averaged_inverse(anchors, delta=0.6, subspaces=4, ridge=0.0, seed=9)
    expected = np.zeros_like(anchors)
    for subset in subsets:
        expected[subset] += np.linalg.pinv(anchors[subset].T)
    np.testing.assert_allclose(averaged, expected / 4, atol=1e-10)
    np.testing.assert_allclose(conditions, [np.linalg.cond(anchors[subset]) for subset in subsets], rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 24), scale=st.floats(0.1, 20.0))
def test_rotated_and_scaled_copies_are_recovered_exactly(seed, d, scale):
    rng = np.random.default_rng(seed)
    source, rotation, shift, target = rotated_copy(rng, k=3 * d + 8, d=d, scale=scale)
    x = rng.normal(size=(10, d))
    truth = scale * x @ rotation + shift
    mu_t = target.mean(0)
    # IRP recovers every direction; its scale is the anchors' mean radius (docs/concepts/method.md, step 4).
    irp = fit_translator(source, target, "irp", delta=None, subspaces=1).transform(x)
    radius = np.linalg.norm(target - mu_t, axis=1).mean()
    np.testing.assert_allclose(irp, unit(truth, mu_t) * radius + mu_t, rtol=1e-3, atol=1e-3 * radius)
    # Procrustes with isotropic scaling recovers the vectors themselves.
    procrustes = fit_translator(source, target, "procrustes").transform(x)
    np.testing.assert_allclose(procrustes, truth, rtol=1e-3, atol=1e-3 * scale)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), d_s=st.integers(2, 20), d_t=st.integers(2, 20))
def test_procrustes_map_is_orthogonal(seed, d_s, d_t):
    rng = np.random.default_rng(seed)
    source, target = correlated_pair(rng, k=60, d_s=d_s, d_t=d_t, noise=1.0)
    for scaling in ("isotropic", "per_dimension", "whitened"):
        rotation = fit_translator(source, target, "procrustes", scaling=scaling).state["rotation"]
        assert rotation.shape == (max(d_s, d_t),) * 2
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(rotation.shape[0]), atol=1e-10)


def whitened_procrustes_oracle(source, target, x, shrinkage, coloring):
    """Shrunk covariances' powers by scipy, scipy's orthogonal Procrustes, the target's covariance to the power
    ``coloring / 2``, then, below full coloring, the one scale that gives the translated anchors the target
    anchors' spread."""
    d_s, d_t = source.shape[1], target.shape[1]
    width = max(d_s, d_t)
    mu_s, mu_t = source.mean(0), target.mean(0)

    def shrunk(a):
        covariance = np.cov(a, rowvar=False, bias=True)
        return covariance + shrinkage * np.trace(covariance) / len(covariance) * np.eye(len(covariance))

    root_s, root_t = (np.real(scipy.linalg.sqrtm(shrunk(a))) for a in (source, target))
    color = np.real(scipy.linalg.fractional_matrix_power(shrunk(target), coloring / 2))
    pad = lambda a: np.hstack([a, np.zeros((a.shape[0], width - a.shape[1]))])  # noqa: E731
    white_s = np.linalg.solve(root_s, (source - mu_s).T).T
    white_t = np.linalg.solve(root_t, (target - mu_t).T).T
    rotation, _ = scipy.linalg.orthogonal_procrustes(pad(white_s), pad(white_t))
    offsets = lambda a: (pad(np.linalg.solve(root_s, (a - mu_s).T).T) @ rotation)[:, :d_t] @ color  # noqa: E731
    scale = 1.0 if coloring == 1.0 else np.linalg.norm(target - mu_t) / np.linalg.norm(offsets(source))
    return offsets(x) * scale + mu_t


@pytest.mark.parametrize(("d_s", "d_t"), [(12, 12), (20, 9), (9, 20)])
@pytest.mark.parametrize("shrinkage", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("coloring", [0.0, 0.5, 1.0])
def test_whitened_procrustes_matches_its_oracle(d_s, d_t, shrinkage, coloring):
    rng = np.random.default_rng(d_s * 31 + d_t)
    source, target = correlated_pair(rng, k=80, d_s=d_s, d_t=d_t, noise=0.5)
    x = rng.normal(size=(7, d_s)) + source.mean(0)
    got = fit_translator(
        source, target, "procrustes", scaling="whitened", shrinkage=shrinkage, coloring=coloring
    ).transform(x)
    expected = whitened_procrustes_oracle(source, target, x, shrinkage, coloring)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_whitening_recovers_any_invertible_linear_map_and_shrinks_to_isotropic_procrustes():
    """Whitening, rotating and coloring reaches every map ``C_t^(1/2) Q C_s^(-1/2)``, so with little shrinkage
    it recovers a stretched, sheared copy that a rotation cannot; with a great deal it is isotropic Procrustes,
    at any coloring."""
    rng = np.random.default_rng(4)
    source = rng.normal(size=(300, 10)) * np.geomspace(3, 0.3, 10) + 1.0
    stretch = rng.normal(size=(10, 10)) + 3 * np.eye(10)
    target = source @ stretch - 2.0
    x = rng.normal(size=(20, 10))
    truth = x @ stretch - 2.0
    whitened = fit_translator(source, target, "procrustes", scaling="whitened", shrinkage=1e-9)
    isotropic = fit_translator(source, target, "procrustes").transform(x)
    np.testing.assert_allclose(whitened.transform(x), truth, rtol=1e-3, atol=1e-3)
    assert np.abs(isotropic - truth).max() > 0.5
    partly = fit_translator(source, target, "procrustes", scaling="whitened", shrinkage=1e-9, coloring=0.5)
    assert np.abs(partly.transform(x) - truth).max() > 0.5  # half the coloring cannot rebuild a stretch
    for coloring in (0.5, 1.0):
        far = fit_translator(source, target, "procrustes", scaling="whitened", shrinkage=1e7, coloring=coloring)
        np.testing.assert_allclose(far.transform(x), isotropic, rtol=1e-4, atol=1e-4)
    # Reports and artifacts name shrinkage and coloring only where they act.
    assert far.options == {"scaling": "whitened", "shrinkage": 1e7, "coloring": 1.0}
    assert fit_translator(source, target, "procrustes", shrinkage=5.0).options == {"scaling": "isotropic"}


def test_coloring_below_full_keeps_the_target_anchors_spread():
    rng = np.random.default_rng(5)
    source, target = correlated_pair(rng, k=200, d_s=16, d_t=12, noise=0.5)
    target = target * np.geomspace(4, 0.25, 12)  # an anisotropic target
    spread = np.linalg.norm(target - target.mean(0))
    for coloring in (0.0, 0.25, 0.5, 0.99):
        fitted = fit_translator(source, target, "procrustes", scaling="whitened", coloring=coloring)
        translated = fitted.transform(source).astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(translated - target.mean(0)), spread, rtol=1e-5)
    with pytest.raises(ValueError, match=r"coloring must be in \[0, 1\]"):
        fit_translator(source, target, "procrustes", scaling="whitened", coloring=1.5)


def test_pruning_lowers_the_condition_number():
    rng = np.random.default_rng(6)
    # A power-law spectrum: a few dominant directions, like real embeddings whose anchors are highly correlated.
    d = 64
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    anchors = unit((rng.normal(size=(400, d)) / np.arange(1, d + 1)) @ basis + 2.0, 0.0)
    anchors = unit(anchors, anchors.mean(0))
    worst_so_far = F.condition_number(anchors)
    for delta in (0.5, 0.7, 0.9):  # a stricter threshold keeps fewer, better-separated anchors
        conditions = []
        for start in (0, 17, 123):
            subset = F.farthest_point_subset(anchors, delta, start)
            assert 2 <= len(subset) < len(anchors)
            cosines = np.abs(anchors[subset] @ anchors[subset].T)[~np.eye(len(subset), dtype=bool)]
            assert cosines.max() <= 1 - delta + 1e-12  # every kept pair is at least delta apart
            conditions.append(F.condition_number(anchors[subset]))
        assert max(conditions) < worst_so_far
        worst_so_far = max(conditions)


def test_only_near_square_subsets_are_cut_and_to_their_first_anchors():
    order = np.random.default_rng(0).permutation(200)  # farthest-point order: the first chosen are the most spread
    # In 40 dimensions a subset is kept whole at aspect min(s, 40) / max(s, 40) <= 0.4: s <= 16 or s >= 100.
    for size, kept in ((10, 10), (16, 16), (17, 16), (40, 16), (99, 16), (100, 100), (200, 200)):
        np.testing.assert_array_equal(F.trim_near_square(order[:size], dim=40, aspect_limit=0.4), order[:kept])
    np.testing.assert_array_equal(F.trim_near_square(order[:40], dim=40, aspect_limit=None), order[:40])


def test_cutting_near_square_subsets_keeps_every_inverse_conditioned():
    # Isotropic 16-d anchors: many are pairwise 0.7 apart, so pruned subsets come out 14-17 strong, nearly
    # square, and the squarest of them has a pseudo-inverse that blows up.
    rng = np.random.default_rng(1)
    anchors = unit(rng.normal(size=(1000, 16)), 0.0)
    _, whole, whole_conditions = F.subspace_averaged_inverse(anchors, 0.7, 32, 0.0, seed=0)
    basis, cut, conditions = F.subspace_averaged_inverse(anchors, 0.7, 32, 0.0, seed=0, aspect_limit=0.4)
    assert min(map(len, whole)) > 0.4 * 16 and max(whole_conditions) > 50
    for kept, full in zip(cut, whole, strict=True):
        np.testing.assert_array_equal(kept, full[:6])  # int(0.4 * 16): the same start, its most spread anchors
    assert max(conditions) < 5
    np.testing.assert_allclose(conditions, [np.linalg.cond(anchors[kept]) for kept in cut], rtol=1e-9)
    expected = np.zeros_like(anchors)
    for kept in cut:
        expected[kept] += np.linalg.pinv(anchors[kept].T)
    np.testing.assert_allclose(basis, expected / 32, atol=1e-10)


def test_fused_plan_equals_unfused_path():
    rng = np.random.default_rng(7)
    source, target = correlated_pair(rng, k=300, d_s=24, d_t=40)
    x = rng.normal(size=(50, 24)) + 3.0
    for method, options in [("irp", {}), ("irp", {"delta": None, "subspaces": 1, "ridge": 0.5}), ("procrustes", {})]:
        t = fit_translator(source, target, method, **options)
        if method == "irp":
            sender = RelativeProjector.fit(source, **t.options)
            receiver = RelativeProjector.fit(target, **t.options)
            unfused = receiver.from_relative(sender.to_relative(x))
        else:  # standardize, pad, rotate, keep d_t columns, unstandardize, one step at a time
            mean_s, spread_s = F.standard_scaling(source, per_dimension=False)
            mean_t, spread_t = F.standard_scaling(target, per_dimension=False)
            padded = F.zero_pad((x - mean_s) / spread_s, 40)
            unfused = (padded @ t.state["rotation"])[:, :40] * spread_t + mean_t
        np.testing.assert_allclose(t.transform(x), unfused, rtol=1e-4, atol=1e-4)


def test_projector_halves_compose_to_the_irp_translator():
    rng = np.random.default_rng(8)
    source, target = correlated_pair(rng, k=250, d_s=30, d_t=20)
    x = rng.normal(size=(40, 30)) + 3.0
    options = {"delta": 0.6, "subspaces": 5, "ridge": 0.01, "seed": 3}
    translator = fit_translator(source, target, "irp", **options)
    sender = RelativeProjector.fit(source, **options)
    receiver = RelativeProjector.fit(target, **options)
    relative = sender.to_relative(x)
    assert relative.shape == (40, 250)
    np.testing.assert_allclose(receiver.from_relative(relative), translator.transform(x), rtol=1e-5, atol=1e-5)


def test_receiver_can_fit_its_inverse_on_its_own_unpaired_samples():
    rng = np.random.default_rng(9)
    source, rotation, shift, target = rotated_copy(rng, k=60, d=32)
    own_samples = 2.5 * (rng.normal(size=(2000, 32)) + source.mean(0)) @ rotation + shift  # never paired
    receiver = RelativeProjector.fit(target, samples=own_samples, samples_alpha=1e-6)
    assert receiver.report["inverse_fitted_on"] == "samples"
    sender = RelativeProjector.fit(source)
    x = rng.normal(size=(20, 32)) + source.mean(0)
    truth = 2.5 * x @ rotation + shift
    predicted = receiver.from_relative(sender.to_relative(x))
    assert S.centered_cosine(predicted, truth, target.mean(0)).min() > 0.999


def test_torch_plan_equals_numpy_plan():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    source, target = correlated_pair(rng, k=200, d_s=16, d_t=24)
    x = (rng.normal(size=(32, 16)) + 3.0).astype(np.float32)
    plan = fit_translator(source, target, "irp").plan
    on_torch = plan.to_torch("cpu").apply(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(on_torch, plan.apply(x), rtol=1e-5, atol=1e-5)
    in_bf16 = plan.to_torch("cpu", torch.bfloat16).apply(torch.from_numpy(x)).float().numpy()
    assert S.centered_cosine(in_bf16, plan.apply(x), target.mean(0)).min() > 0.99


def test_centered_cosine_and_top_k_against_hand_computed_values():
    center = np.array([1.0, 1.0])
    predicted = np.array([[2.0, 1.0], [1.0, 3.0], [0.0, 1.0]])
    truth = np.array([[3.0, 1.0], [2.0, 2.0], [1.0, 0.0]])
    # centered: p = (1,0), (0,2), (-1,0); t = (2,0), (1,1), (0,-1)
    np.testing.assert_allclose(S.centered_cosine(predicted, truth, center), [1.0, np.sqrt(0.5), 0.0])
    # cosines to the truths: p0 -> [1, .71, 0], p1 -> [0, .71, -1], p2 -> [-1, -.71, 0]: each row's own is best
    assert S.top_k_retrieval(predicted, truth, center, k=1) == 1.0
    # predicting p0 for every row: only row 0's own truth is the nearest
    assert S.top_k_retrieval(np.tile(predicted[:1], (3, 1)), truth, center, k=1) == pytest.approx(1 / 3)


def test_gallery_ranks_by_brute_force_under_raw_and_centered_cosine():
    rng = np.random.default_rng(8)
    gallery = rng.normal(size=(30, 6)) + 2.0
    rows = rng.choice(30, size=10, replace=False)
    predicted = gallery[rows] + 0.8 * rng.normal(size=(10, 6))

    def cos(a, b, c):
        return (a - c) @ (b - c) / np.linalg.norm(a - c) / np.linalg.norm(b - c)

    for center in (None, gallery.mean(0)):
        c = 0.0 if center is None else center
        expected = [
            sum(cos(p, g, c) >= cos(p, gallery[r], c) for g in gallery) for p, r in zip(predicted, rows, strict=True)
        ]
        np.testing.assert_array_equal(S.gallery_ranks(predicted, gallery, rows, center), expected)


def test_cluster_centers_are_seeded_and_find_separated_groups():
    rng = np.random.default_rng(9)
    blobs = np.repeat(10.0 * np.eye(4, 8), 25, axis=0) + rng.normal(size=(100, 8))
    centers = S.cluster_centers(blobs, 4, seed=0)
    np.testing.assert_array_equal(centers, S.cluster_centers(blobs, 4, seed=0))
    assigned = S.nearest(blobs, centers)
    assert all(len(set(assigned[i * 25 : (i + 1) * 25])) == 1 for i in range(4)) and len(set(assigned)) == 4


def test_cross_validated_quality_of_a_fixed_method_and_of_auto():
    """The quality a nightly upgrade reports: auto's own CV row for its winner, or a fresh CV of a fixed method
    that matches running the CV by hand."""
    from pipeline.translate import fit_translator
    from pipeline.translate.auto import cross_validated_quality, fold_indices, gap_se

    rng = np.random.default_rng(0)
    source = rng.normal(size=(120, 16))
    target = source @ np.linalg.qr(rng.normal(size=(16, 16)))[0] + 0.05 * rng.normal(size=(120, 16))
    fixed = fit_translator(source, target, "procrustes")
    quality = cross_validated_quality(fixed.method, fixed.options, fixed.report, source, target, repeats=2)
    by_hand = []
    for folds in (fold_indices(source, target, 5, seed) for seed in (0, 1)):  # two partitions, 5 folds each
        for i, held_out in enumerate(folds):
            train = np.concatenate(folds[:i] + folds[i + 1 :])
            predicted = fit_translator(source[train], target[train], "procrustes").transform(source[held_out])
            by_hand.append(np.mean(1.0 / S.gallery_ranks(predicted.astype(np.float64), target, held_out)))
    assert quality["mrr"] == pytest.approx(np.mean(by_hand), abs=1e-12)
    assert (quality["folds"], quality["repeats"], len(quality["mrr_folds"])) == (5, 2, 10)
    assert quality["top1"] > 0.9  # a near-rotation: each held-out anchor finds its own target
    auto = fit_translator(source, target, "auto")
    chosen = cross_validated_quality(auto.method, auto.options, auto.report, source, target)
    assert chosen["method"] == auto.method and chosen["options"] == dict(auto.options)
    best = max((row for row in auto.report["auto"]["cv"] if "mrr" in row), key=lambda row: row["mrr"])
    assert chosen["mrr"] >= best["mrr"] - gap_se(best, chosen, "mrr")  # the one-standard-error rule's winner
