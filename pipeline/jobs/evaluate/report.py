"""Turn evaluation rows into the published report: mean ± std over draws, Markdown tables, PNG plots, JSON.

Plots use matplotlib's file-only Agg backend, so reports are made on headless machines too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FIGURES = ("centered_cosine", "cosine", "mse", "top1", "top10", "mrr", "accuracy_ratio", "macro_f1_ratio")
KEYS = ("direction", "experiment", "label", "n_anchors", "decoder")


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (direction, experiment, label, anchors, decoder): each figure's mean and std over draws."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in KEYS), []).append(row)
    summary = []
    for key, members in groups.items():
        entry = dict(zip(KEYS, key, strict=True))
        entry["draws"] = len(members)
        entry["native_accuracy"] = float(np.mean([m["native_accuracy"] for m in members]))
        for figure in FIGURES:
            values = np.array([m[figure] for m in members], dtype=np.float64)
            entry[figure] = {"mean": float(values.mean()), "std": float(values.std())}
        summary.append(entry)
    return summary


def main_table(summary: Sequence[dict[str, Any]], direction: str, decoders: Sequence[str]) -> list[str]:
    """Markdown table of the main experiment for one direction: geometry, retrieval, stitched ratios."""
    entries = [e for e in summary if e["direction"] == direction and e["experiment"] == "main"]
    labels = list(dict.fromkeys(e["label"] for e in entries))
    ratio_columns = [f"{figure} ({decoder})" for decoder in decoders for figure in ("acc. ratio", "F1 ratio")]
    lines = [
        "| translator | centered cos | cos | MSE | top-1 | top-10 | MRR | " + " | ".join(ratio_columns) + " |",
        "|---" * (7 + len(ratio_columns)) + "|",
    ]
    for label in labels:
        by_decoder = {e["decoder"]: e for e in entries if e["label"] == label}
        first = by_decoder[decoders[0]]
        cells = [
            _cell(first[f], scientific=f == "mse") for f in ("centered_cosine", "cosine", "mse", "top1", "top10", "mrr")
        ]
        cells += [_cell(by_decoder[d][f]) for d in decoders for f in ("accuracy_ratio", "macro_f1_ratio")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    natives = ", ".join(f"{d} {next(e for e in entries if e['decoder'] == d)['native_accuracy']:.3f}" for d in decoders)
    return [*lines, "", f"Native accuracy of the target's decoders on the test rows: {natives}."]


def migration_table(summary: Sequence[dict[str, Any]], direction: str) -> list[str]:
    """Markdown table of the migrated-index strategies for one direction, each figure with its ratio to native."""
    entries = [e for e in summary if e["direction"] == direction]
    bounds = [e for e in entries if e["label"] == "-"]
    ordered = sorted(bounds, key=lambda e: e["strategy"] != "native") + [e for e in entries if e["label"] != "-"]
    lines = [
        "| translator | strategy | Recall@1 | Recall@10 | MRR | R@10 / native | MRR / native |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in ordered:
        cells = [_cell(e[f]) for f in ("recall1", "recall10", "mrr")] + [
            _cell(e[f"{f}_ratio"]) for f in ("recall10", "mrr")
        ]
        lines.append(f"| {e['label']} | {e['strategy']} | " + " | ".join(cells) + " |")
    return lines


def plot_anchor_sweep(summary: Sequence[dict[str, Any]], directions: Sequence[str], path: Path) -> None:
    """Stitched/native accuracy (logistic decoder) against the number of anchors, a line per method."""

    def draw(axis: Any, direction: str) -> None:
        entries = _entries(summary, direction, "anchors")
        for label in dict.fromkeys(e["label"] for e in entries):
            line = sorted((e for e in entries if e["label"] == label), key=lambda e: e["n_anchors"])
            _errorbar(axis, [e["n_anchors"] for e in line], line, label)
        axis.set(title=direction, xlabel="anchors", ylabel="stitched / native accuracy", xscale="log")

    _panels(directions, path, draw)


def plot_irp_grid(summary: Sequence[dict[str, Any]], directions: Sequence[str], path: Path) -> None:
    """IRP's stitched/native accuracy (logistic) against δ, a line per ω (``None`` = no pruning, at δ = 1)."""

    def draw(axis: Any, direction: str) -> None:
        grid: dict[str, list[tuple[float, dict]]] = {}
        for e in _entries(summary, direction, "irp_grid"):
            delta, subspaces = e["label"].removeprefix("δ=").split(", ω=")
            grid.setdefault(subspaces, []).append((1.0 if delta == "None" else float(delta), e))
        for subspaces, points in sorted(grid.items(), key=lambda item: int(item[0])):
            points.sort(key=lambda point: point[0])
            _errorbar(axis, [p[0] for p in points], [p[1] for p in points], f"ω={subspaces}")
        axis.set(title=f"irp, {direction}", xlabel="δ (1 = no pruning)", ylabel="stitched / native accuracy")

    _panels(directions, path, draw)


def _entries(summary: Sequence[dict[str, Any]], direction: str, experiment: str) -> list[dict[str, Any]]:
    return [
        e
        for e in summary
        if e["direction"] == direction and e["experiment"] == experiment and e["decoder"] == "logistic"
    ]


def _errorbar(axis: Any, xs: Sequence[float], entries: Sequence[dict[str, Any]], label: str) -> None:
    axis.errorbar(
        xs,
        [e["accuracy_ratio"]["mean"] for e in entries],
        yerr=[e["accuracy_ratio"]["std"] for e in entries],
        marker="o",
        capsize=3,
        label=label,
    )


def _panels(directions: Sequence[str], path: Path, draw: Any) -> None:
    """One panel per direction, side by side, drawn by ``draw(axis, direction)``, saved as a PNG."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(directions), figsize=(6 * len(directions), 4), squeeze=False)
    for axis, direction in zip(axes[0], directions, strict=True):
        draw(axis, direction)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))


def _cell(figure: dict[str, float], scientific: bool = False) -> str:
    if scientific:  # MSE of unit-scale embeddings: three decimals would show only zeros
        return f"{figure['mean']:.2e} ± {figure['std']:.1e}"
    return f"{figure['mean']:.3f} ± {figure['std']:.3f}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
