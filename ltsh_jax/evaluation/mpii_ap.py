"""MPII multi-person AP: the official evaluateAP / assignGTmulti protocol, vectorised with numpy.

Per evaluation unit (an image, or an MPII group of one, see groups.py), over the 14 scored joints:
a predicted joint matches a GT joint when their distance / head size <= 0.5, head size = 0.6 x the
GT head box diagonal (PCKh@0.5). pck(pred, gt) = matched joints / annotated joints of the GT
person. Scores play no part in the assignment: each prediction keeps only its best GT (highest
pck, lowest GT index on ties); each GT then takes, among the predictions that kept it, the one with
the highest pck (lowest prediction index on ties), provided that pck > 0. An assigned prediction's
joints are true positives where they match its GT's joint and false positives elsewhere; every
joint of an unassigned prediction is a false positive. Every annotated GT joint is a positive.

AP per joint: all predicted joints sorted by score, descending, ties in input order (units in
order, then people, as MATLAB's stable sort does in the toolkit); VOC all-points AP. A joint
without any positive has an undefined AP (NaN) and is left out of the means; predictions without
positives for them are then simply not scored. mAP = mean over the 14 joints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage
from ltsh_jax.skeleton import MPII16_EVAL_GROUPS, MPII16_NAMES, MPII16_SCORED, NUM_MPII16

HEAD_SIZE_FACTOR = 0.6
PCKH_THRESHOLD = 0.5
_SCORED = np.asarray(MPII16_SCORED)


@dataclasses.dataclass(frozen=True, eq=False)
class Assignment:
    """assignGTmulti over every unit, flattened: people are indexed globally, units in order.

    One row of the joint_* arrays per predicted scored joint (prediction order, then joint id).
    `pred_attributed_gt`: the GT person a prediction is charged to in per-subset AP (visibility
    bins): its assigned GT; else, within its unit, the GT of highest pck, ties broken by the
    smallest distance between the centroids of the scored joints; -1 in units without GT.
    """

    joint_scores: np.ndarray  # float64 [M]
    joint_is_tp: np.ndarray  # bool [M]
    joint_ids: np.ndarray  # int64 [M], MPII-16 id
    joint_person: np.ndarray  # int64 [M], global prediction index
    pred_to_gt: np.ndarray  # int64 [Q], global GT index or -1
    pred_attributed_gt: np.ndarray  # int64 [Q]
    gt_present: np.ndarray  # bool [P, 16], scored joints only (thorax, pelvis False)
    gt_visible: np.ndarray  # bool [P, 16], same
    gt_unit: np.ndarray  # int64 [P]
    pred_unit: np.ndarray  # int64 [Q]
    num_units: int


@dataclasses.dataclass(frozen=True)
class MPIIResult:
    """AP in percent: per scored joint by MPII-16 name, and the table columns; NaN = no positives."""

    per_joint: dict[str, float]
    table: dict[str, float]
    assignment: Assignment


def head_sizes(head_boxes: np.ndarray) -> np.ndarray:
    """[..., 4] head boxes (x1, y1, x2, y2) -> [...] head sizes, 0.6 x the diagonal."""
    b = np.asarray(head_boxes, np.float64)
    return HEAD_SIZE_FACTOR * np.hypot(b[..., 2] - b[..., 0], b[..., 3] - b[..., 1])


def _concat(arrays: list[np.ndarray], shape: tuple[int, ...], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(shape, dtype)


def _first_of_groups(keys: np.ndarray) -> np.ndarray:
    """Bool mask of the first element of each run of equal values in sorted `keys`."""
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def _centroids(xy: np.ndarray, present: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = present.sum(1, keepdims=True)
    mean = (xy * present[..., None]).sum(1) / np.maximum(n, 1)
    return np.where(n > 0, mean, fallback)


def assign(
    ground_truth: Sequence[GroundTruthImage], predictions: Sequence[PredictionImage], threshold: float = PCKH_THRESHOLD
) -> Assignment:
    """Assigns predictions to GT people per unit and labels every predicted scored joint TP or FP.

    `predictions[i]` holds the predictions of unit `ground_truth[i]` (see align_predictions).
    """
    if len(ground_truth) != len(predictions):
        raise ValueError(f"{len(ground_truth)} GT units but {len(predictions)} prediction units")
    n_gt = np.array([g.num_people for g in ground_truth], np.int64)
    n_pr = np.array([p.num_people for p in predictions], np.int64)
    g_kp = _concat([g.keypoints for g in ground_truth], (0, NUM_MPII16, 2), np.float64)[:, _SCORED]
    g_pres = _concat([g.present for g in ground_truth], (0, NUM_MPII16), bool)[:, _SCORED]
    g_vis = _concat([g.visible for g in ground_truth], (0, NUM_MPII16), bool)[:, _SCORED]
    g_boxes = _concat([g.head_boxes for g in ground_truth], (0, 4), np.float64)
    g_head = head_sizes(g_boxes)
    p_kp = _concat([p.keypoints for p in predictions], (0, NUM_MPII16, 2), np.float64)[:, _SCORED]
    p_pres = _concat([p.present for p in predictions], (0, NUM_MPII16), bool)[:, _SCORED]
    p_score = _concat([p.scores for p in predictions], (0, NUM_MPII16), np.float64)[:, _SCORED]
    num_q = len(p_kp)

    # Every (prediction, GT) pair of every unit, prediction-major as in the toolkit's loops.
    n_pairs = n_gt * n_pr
    pair_unit = np.repeat(np.arange(len(n_gt)), n_pairs)
    local = np.arange(n_pairs.sum()) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
    per_unit_gt = n_gt[pair_unit]
    q = np.cumsum(n_pr)[pair_unit] - n_pr[pair_unit] + local // np.maximum(per_unit_gt, 1)
    p = np.cumsum(n_gt)[pair_unit] - per_unit_gt + local % np.maximum(per_unit_gt, 1)

    diff = p_kp[q] - g_kp[p]
    dist = np.hypot(diff[..., 0], diff[..., 1]) / g_head[p][:, None]
    match = p_pres[q] & g_pres[p] & (dist <= threshold)
    pck = match.sum(1) / np.maximum(g_pres.sum(1), 1)[p]

    # Each prediction keeps its best GT (highest pck, then lowest GT index).
    order = np.lexsort((p, -pck, q))
    best = order[_first_of_groups(q[order])]
    # Each GT takes the kept prediction of highest pck (then lowest prediction index), if pck > 0.
    cand = best[pck[best] > 0]
    order = np.lexsort((q[cand], -pck[cand], p[cand]))
    won = cand[order][_first_of_groups(p[cand][order])]
    pred_to_gt = np.full(num_q, -1, np.int64)
    pred_to_gt[q[won]] = p[won]
    is_tp = np.zeros(p_pres.shape, bool)
    is_tp[q[won]] = match[won]

    # Attribution of unassigned predictions for per-subset AP: highest pck, then nearest centroid.
    g_centre = _centroids(g_kp, g_pres, g_boxes.reshape(-1, 2, 2).mean(1))
    p_centre = _centroids(p_kp, p_pres, np.zeros((num_q, 2)))
    cdist = np.hypot(*(p_centre[q] - g_centre[p]).T)
    order = np.lexsort((p, cdist, -pck, q))
    near = order[_first_of_groups(q[order])]
    attributed = np.full(num_q, -1, np.int64)
    attributed[q[near]] = p[near]
    attributed = np.where(pred_to_gt >= 0, pred_to_gt, attributed)

    rows, cols = np.nonzero(p_pres)
    gt_present = np.zeros((len(g_pres), NUM_MPII16), bool)
    gt_visible = np.zeros((len(g_pres), NUM_MPII16), bool)
    gt_present[:, _SCORED], gt_visible[:, _SCORED] = g_pres, g_vis & g_pres
    return Assignment(
        joint_scores=p_score[rows, cols],
        joint_is_tp=is_tp[rows, cols],
        joint_ids=_SCORED[cols],
        joint_person=rows.astype(np.int64),
        pred_to_gt=pred_to_gt,
        pred_attributed_gt=attributed,
        gt_present=gt_present,
        gt_visible=gt_visible,
        gt_unit=np.repeat(np.arange(len(n_gt)), n_gt),
        pred_unit=np.repeat(np.arange(len(n_pr)), n_pr),
        num_units=len(n_gt),
    )


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-points AP: area under the monotone (right-to-left max) precision envelope."""
    mrec = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def precision_recall(scores: np.ndarray, labels: np.ndarray, num_positives: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative precision and recall along scores sorted descending (stable: ties keep input order)."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    tp = np.cumsum(np.asarray(labels, bool)[order])
    return tp / np.arange(1, len(tp) + 1), tp / num_positives


def average_precision(scores: np.ndarray, labels: np.ndarray, num_positives: int) -> float:
    """AP in [0, 1] of scored detections with TP labels; NaN when there are no positives."""
    if num_positives <= 0:
        return float("nan")
    precision, recall = precision_recall(scores, labels, num_positives)
    return voc_ap(recall, precision)


def per_joint_ap(assignment: Assignment, gt_people: np.ndarray | None = None) -> dict[int, float]:
    """AP in [0, 1] per scored MPII-16 id.

    With `gt_people` (bool [P]), only those GT people are positives and only the predictions
    attributed to them (Assignment.pred_attributed_gt) are scored.
    """
    a = assignment
    if gt_people is None:
        selected = np.ones(len(a.joint_ids), bool)
        positives = a.gt_present.sum(0)
    else:
        gt_people = np.asarray(gt_people, bool)
        owner = a.pred_attributed_gt[a.joint_person]
        selected = (owner >= 0) & gt_people[np.maximum(owner, 0)]
        positives = a.gt_present[gt_people].sum(0)
    out = {}
    for k in MPII16_SCORED:
        m = selected & (a.joint_ids == k)
        out[k] = average_precision(a.joint_scores[m], a.joint_is_tp[m], int(positives[k]))
    return out


def _nanmean(values: Sequence[float]) -> float:
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def ap_table(per_joint: Mapping[int, float]) -> dict[str, float]:
    """AP by MPII-16 id -> the table columns Head .. Ankle (mean of the pair) and mAP (mean of 14)."""
    table = {name: _nanmean([per_joint[k] for k in ids]) for name, ids in MPII16_EVAL_GROUPS.items()}
    table["mAP"] = _nanmean([per_joint[k] for k in MPII16_SCORED])
    return table


def evaluate(
    ground_truth: Sequence[GroundTruthImage], predictions: Sequence[PredictionImage], threshold: float = PCKH_THRESHOLD
) -> MPIIResult:
    """The MPII multi-person AP of aligned predictions, in percent."""
    assignment = assign(ground_truth, predictions, threshold)
    ap = {k: 100.0 * v for k, v in per_joint_ap(assignment).items()}
    return MPIIResult({MPII16_NAMES[k]: ap[k] for k in MPII16_SCORED}, ap_table(ap), assignment)
