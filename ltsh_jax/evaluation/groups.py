"""Restricts evaluation to MPII multi-person groups ("groups of people in close proximity").

The official protocol scores each group as its own unit: its GT people only, and the predictions
made on the whole image whose joints lie inside the group's area. Here a group is the set of GT
people of one image sharing a "group" id (see mpii_json_io). Its area is the bounding box of those
people's annotated joints and head boxes, enlarged on every side by `margin` times the group's
mean head size (0.6 x head box diagonal); the official toolkit uses a box around the people's
rectangles instead, which our files do not carry. A prediction is kept when at least
`min_inside` (default half) of its predicted joints, all 16 ids counted, lie inside the area
(borders included). Groups never share GT people, but a prediction may be kept by two
overlapping groups of one image, as when the groups are evaluated as separate images.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ltsh_jax.data.schema import NO_GROUP
from ltsh_jax.evaluation import mpii_ap
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage


def group_area(gt: GroundTruthImage, people: np.ndarray, margin: float = 1.0) -> np.ndarray:
    """The area [x1, y1, x2, y2] of the GT people selected by index array or mask `people`."""
    kp, present, boxes = gt.keypoints[people], gt.present[people], gt.head_boxes[people]
    if len(kp) == 0:
        raise ValueError(f"image '{gt.name}': a group needs at least one GT person")
    corners = boxes.reshape(-1, 2)  # (x1, y1) and (x2, y2) of every head box
    points = np.concatenate([kp[present], corners])
    head = mpii_ap.head_sizes(boxes).mean()
    return np.concatenate([points.min(0) - margin * head, points.max(0) + margin * head])


def inside_area(pred: PredictionImage, area: np.ndarray, min_inside: float = 0.5) -> np.ndarray:
    """Bool [Q]: predictions with at least `min_inside` of their predicted joints inside `area`."""
    xy = pred.keypoints
    inside = (xy[..., 0] >= area[0]) & (xy[..., 0] <= area[2]) & (xy[..., 1] >= area[1]) & (xy[..., 1] <= area[3])
    n = pred.present.sum(1)
    return (n > 0) & ((inside & pred.present).sum(1) >= min_inside * n)


def _subset_gt(gt: GroundTruthImage, keep: np.ndarray, name: str) -> GroundTruthImage:
    return GroundTruthImage(
        name, gt.keypoints[keep], gt.present[keep], gt.visible[keep], gt.head_boxes[keep], gt.groups[keep]
    )


def _subset_pred(pred: PredictionImage, keep: np.ndarray, name: str) -> PredictionImage:
    return PredictionImage(name, pred.keypoints[keep], pred.present[keep], pred.scores[keep], pred.person_scores[keep])


def restrict_to_groups(
    ground_truth: Sequence[GroundTruthImage],
    predictions: Sequence[PredictionImage],
    groups: Iterable[int] | None = None,
    margin: float = 1.0,
    min_inside: float = 0.5,
) -> tuple[list[GroundTruthImage], list[PredictionImage]]:
    """Evaluation units, one per (image, group): its GT people and the predictions inside its area.

    `predictions` must be aligned with `ground_truth` (see align_predictions). `groups`: the group
    ids to keep in every image, or None for every group; GT people without a group are dropped.
    Units are named "IMAGE#gID".
    """
    if len(ground_truth) != len(predictions):
        raise ValueError(f"{len(ground_truth)} GT images but {len(predictions)} prediction images")
    wanted = None if groups is None else {int(g) for g in groups}
    out_gt, out_pred = [], []
    for gt, pred in zip(ground_truth, predictions, strict=True):
        if gt.name != pred.name:
            raise ValueError(f"predictions are not aligned with the GT: '{pred.name}' beside '{gt.name}'")
        for g in np.unique(gt.groups[gt.groups != NO_GROUP]):
            if wanted is not None and int(g) not in wanted:
                continue
            people = gt.groups == g
            name = f"{gt.name}#g{int(g)}"
            out_gt.append(_subset_gt(gt, people, name))
            out_pred.append(_subset_pred(pred, inside_area(pred, group_area(gt, people, margin), min_inside), name))
    return out_gt, out_pred
