"""Several runs side by side: a Markdown table of ours against reference numbers, and the Figure 6 plot over runs.

Inputs are the results JSON of `report.result_to_json` (one per run), so tables are always rebuilt
from the files the evaluations wrote.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from ltsh_jax import plots
from ltsh_jax.evaluation.report import TABLE_COLUMNS, format_cell


def comparison_table(
    rows: Sequence[tuple[str, Mapping[str, float | None] | None, Mapping[str, float] | None]],
    ours_label: str = "ours",
    reference_label: str = "paper",
) -> str:
    """Markdown: per row, our numbers and the reference's on adjacent lines, plus our mAP minus theirs.

    rows: (label, our table or None when not run yet, reference table or None).
    """
    head = ["Model", "Source", *TABLE_COLUMNS, "Δ mAP"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for label, ours, reference in rows:
        delta = "-"
        if ours is not None and reference is not None and ours.get("mAP") is not None:
            delta = f"{ours['mAP'] - reference['mAP']:+.1f}"
        ours_cells = [format_cell(ours.get(c)) if ours is not None else "not run" for c in TABLE_COLUMNS]
        lines.append("| " + " | ".join([label, ours_label, *ours_cells, delta]) + " |")
        if reference is not None:
            reference_cells = [format_cell(reference[c]) for c in TABLE_COLUMNS]
            lines.append("| " + " | ".join(["", reference_label, *reference_cells, ""]) + " |")
    return "\n".join(lines) + "\n"


def plot_visibility_comparison(
    runs: Sequence[tuple[str, Sequence[Mapping]]], path: str | os.PathLike, title: str | None = None
) -> None:
    """Figure 6: grouped bars of mAP per bin of visible-joint ratio, one colour per run (PNG).

    runs: (label, visibility_bins of the results JSON: [{"range": [lo, hi], "num_people": n, "mAP": ..}]).
    """
    plt = plots.pyplot()

    if not runs:
        raise ValueError("no runs to plot")
    bins = runs[0][1]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(8, 4))
    for k, (label, run_bins) in enumerate(runs):
        values = [b["mAP"] if b.get("mAP") is not None and math.isfinite(b["mAP"]) else 0.0 for b in run_bins]
        ax.bar([i + (k - (len(runs) - 1) / 2) * width for i in range(len(values))], values, width, label=label)
    ticks = [f"[{b['range'][0]:.1f}, {b['range'][1]:.1f}]\nn={b['num_people']}" for b in bins]
    ax.set_xticks(range(len(bins)), ticks)
    ax.set_xlabel("ratio of visible joints (people per bin)")
    ax.set_ylabel("mAP (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title(title or "mAP by ratio of visible joints (Figure 6)")
    plots.save_png(fig, path)
