"""mAP by ratio of visible joints (the paper's Figure 6: 5 linear bins over [0, 1]).

A GT person's ratio = its scored joints (the 14) that are annotated and marked is_visible / its
annotated scored joints; people without annotated scored joints belong to no bin. Bin b of n holds
ratios in [b/n, (b+1)/n), the last bin also 1 (computed in integers: b = min(n*visible // annotated,
n-1), so 0.2 falls exactly into bin 1). A bin's AP counts only the joints of its people as positives,
and scores the predictions attributed to them (mpii_ap.Assignment.pred_attributed_gt): the assigned
ones with their TP/FP labels, and the unassigned ones, as false positives, in the bin of the GT they
overlap most (highest pck, then nearest). Charging every unassigned prediction to every bin instead
would let the false detections of the whole set dominate small bins.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ltsh_jax.evaluation.mpii_ap import Assignment, ap_table, per_joint_ap
from ltsh_jax.skeleton import MPII16_NAMES, MPII16_SCORED


@dataclasses.dataclass(frozen=True)
class VisibilityBin:
    """One bin: its ratio range, its GT people count, AP in percent (NaN = no positives)."""

    low: float
    high: float
    num_people: int
    per_joint: dict[str, float]
    mAP: float

    def to_json(self) -> dict:
        """A JSON-ready dict; NaN becomes None."""
        clean = lambda v: None if not np.isfinite(v) else float(v)
        return {
            "range": [self.low, self.high],
            "num_people": self.num_people,
            "mAP": clean(self.mAP),
            "per_joint": {k: clean(v) for k, v in self.per_joint.items()},
        }


def visibility_counts(assignment: Assignment) -> tuple[np.ndarray, np.ndarray]:
    """Per GT person: (visible annotated scored joints, annotated scored joints), int64 [P] each."""
    return assignment.gt_visible.sum(1).astype(np.int64), assignment.gt_present.sum(1).astype(np.int64)


def visibility_bin_index(visible: np.ndarray, annotated: np.ndarray, num_bins: int = 5) -> np.ndarray:
    """Bin of each person, -1 where it has no annotated scored joint (exact integer arithmetic)."""
    visible, annotated = np.asarray(visible, np.int64), np.asarray(annotated, np.int64)
    index = np.minimum(num_bins * visible // np.maximum(annotated, 1), num_bins - 1)
    return np.where(annotated > 0, index, -1)


def visibility_bins(assignment: Assignment, num_bins: int = 5) -> list[VisibilityBin]:
    """AP per bin of the ratio of visible joints, bins linear over [0, 1]."""
    if num_bins < 1:
        raise ValueError(f"num_bins must be positive, got {num_bins}")
    index = visibility_bin_index(*visibility_counts(assignment), num_bins)
    out = []
    for b in range(num_bins):
        people = index == b
        ap = {k: 100.0 * v for k, v in per_joint_ap(assignment, people).items()}
        out.append(
            VisibilityBin(
                low=b / num_bins,
                high=(b + 1) / num_bins,
                num_people=int(people.sum()),
                per_joint={MPII16_NAMES[k]: ap[k] for k in MPII16_SCORED},
                mAP=ap_table(ap)["mAP"],
            )
        )
    return out
