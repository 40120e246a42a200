"""Outputs of an MPII evaluation: the results JSON, a one-row Markdown table, the Figure-6 plot.

Results JSON: `{"per_joint": {MPII-16 name: AP}, "table": {"Head", "Shoulder", "Elbow", "Wrist",
"Hip", "Knee", "Ankle", "mAP"}, "visibility_bins": [{"range": [lo, hi], "num_people": n, "mAP":
.., "per_joint": {..}}], "counts": {"units", "gt_people", "predicted_people", "predicted_joints"}}`,
AP in percent, null where a joint has no positives.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from ltsh_jax import plots
from ltsh_jax.evaluation.mpii_ap import MPIIResult
from ltsh_jax.evaluation.visibility import VisibilityBin

TABLE_COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "mAP")


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def result_to_json(result: MPIIResult, bins: Sequence[VisibilityBin] | None = None) -> dict:
    """The results JSON (see the module docstring); "visibility_bins" only when `bins` is given."""
    a = result.assignment
    out = {
        "per_joint": {name: _clean(v) for name, v in result.per_joint.items()},
        "table": {name: _clean(result.table[name]) for name in TABLE_COLUMNS},
        "counts": {
            "units": a.num_units,
            "gt_people": int(len(a.gt_unit)),
            "predicted_people": int(len(a.pred_to_gt)),
            "predicted_joints": int(len(a.joint_ids)),
        },
    }
    if bins is not None:
        out["visibility_bins"] = [b.to_json() for b in bins]
    return out


def format_cell(value: float | None, digits: int = 1) -> str:
    """A table cell: the value with `digits` decimals, "-" when missing or not finite."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown_table(table: Mapping[str, float | None], label: str | None = None, digits: int = 1) -> str:
    """One-row Markdown table of the columns Head .. Ankle, mAP; a first "Model" column when labelled."""
    head = (["Model"] if label is not None else []) + list(TABLE_COLUMNS)
    row = ([label] if label is not None else []) + [format_cell(table.get(c), digits) for c in TABLE_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|", "| " + " | ".join(row) + " |"]
    return "\n".join(lines) + "\n"


def plot_visibility_bins(bins: Sequence[VisibilityBin], path: str | os.PathLike, title: str | None = None) -> None:
    """Bar plot of mAP per bin of visible-joint ratio, people per bin under each bar (PNG)."""
    plt = plots.pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [
        f"[{b.low:.1f}, {b.high:.1f}{']' if i == len(bins) - 1 else ')'}\nn={b.num_people}" for i, b in enumerate(bins)
    ]
    values = [b.mAP if math.isfinite(b.mAP) else 0.0 for b in bins]
    ax.bar(range(len(bins)), values, color="tab:blue")
    ax.set_xticks(range(len(bins)), labels)
    ax.set_xlabel("ratio of visible joints")
    ax.set_ylabel("mAP (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title or "mAP by ratio of visible joints")
    plots.save_png(fig, path)
