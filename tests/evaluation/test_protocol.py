"""MPII multi-person AP (ltsh_jax.evaluation): hand-computed cases, the visibility bins, groups, the CLI.

Every GT person has a 30 x 40 head box: diagonal 50, head size 0.6 * 50 = 30 px, so a predicted
joint matches within 0.5 * 30 = 15 px.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ltsh_jax.evaluation import groups, mpii_ap, mpii_json_write, records, report, visibility
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage
from ltsh_jax.skeleton import MPII16_NAMES, MPII16_SCORED

RADIUS = 15.0  # 0.5 * 0.6 * hypot(30, 40)
L_WRIST, R_WRIST, L_ANKLE, R_ANKLE = 15, 10, 5, 0


def body(x0: float, y0: float = 0.0) -> np.ndarray:
    """16 distinct joints on a 4 x 4 grid, 40 px apart (farther than any match radius)."""
    k = np.arange(16)
    return np.stack([x0 + 40.0 * (k % 4), y0 + 40.0 * (k // 4)], -1)


def gt(name, bodies, present=None, visible=None, group=None) -> GroundTruthImage:
    kp = np.asarray(bodies, float).reshape(-1, 16, 2)
    n = len(kp)
    present = np.ones((n, 16), bool) if present is None else np.asarray(present, bool)
    visible = present.copy() if visible is None else np.asarray(visible, bool) & present
    centre = kp[:, 9]
    boxes = np.concatenate([centre - [15, 20], centre + [15, 20]], 1)
    grp = np.full(n, -1) if group is None else np.asarray(group)
    return GroundTruthImage(name, kp, present, visible, boxes, grp.astype(np.int64))


def pred(name, bodies, scores, present=None) -> PredictionImage:
    kp = np.asarray(bodies, float).reshape(-1, 16, 2)
    n = len(kp)
    s = np.asarray(scores, float)
    s = np.repeat(s[:, None], 16, 1) if s.ndim == 1 else s
    present = np.ones((n, 16), bool) if present is None else np.asarray(present, bool)
    return PredictionImage(name, kp, present, np.where(present, s, 0.0), s.mean(1))


def ap(gts, preds) -> dict[str, float]:
    return mpii_ap.evaluate(gts, preds).per_joint


# ---------------------------------------------------------------------------------------------- basic AP


def test_perfect_prediction_gives_100_everywhere():
    result = mpii_ap.evaluate([gt("a", [body(0), body(500)])], [pred("a", [body(500), body(0)], [0.3, 0.8])])
    assert set(result.per_joint) == {MPII16_NAMES[k] for k in MPII16_SCORED}
    assert "pelvis" not in result.per_joint and "thorax" not in result.per_joint
    assert all(v == pytest.approx(100.0) for v in result.per_joint.values())
    assert all(v == pytest.approx(100.0) for v in result.table.values())
    np.testing.assert_array_equal(result.assignment.pred_to_gt, [1, 0])


def test_head_size_is_point_six_of_the_head_box_diagonal():
    assert mpii_ap.head_sizes(np.array([[0.0, 0.0, 30.0, 40.0], [5.0, 5.0, 11.0, 13.0]])) == pytest.approx([30, 6])


@pytest.mark.parametrize("shift, hit", [(14.9, True), (RADIUS, True), (15.1, False), (30.0, False)])
def test_joint_within_half_a_head_size_hits_and_beyond_misses(shift, hit):
    p = body(0)
    p[L_WRIST] += [shift * 0.6, shift * 0.8]  # a diagonal shift of length `shift`
    result = ap([gt("a", [body(0)])], [pred("a", [p], [0.9])])
    assert result["l_wrist"] == pytest.approx(100.0 if hit else 0.0)
    assert result["r_wrist"] == pytest.approx(100.0)


def test_extra_prediction_is_a_false_positive_for_each_joint():
    # GT A, B; predictions: perfect A (0.9), an extra far from everyone (0.7), perfect B (0.5).
    # Per joint: TP, FP, TP -> precision 1, 1/2, 2/3, recall 1/2, 1/2, 1 -> AP = 0.5 * 1 + 0.5 * 2/3.
    scores = np.array([[0.9] * 16, [0.7] * 16, [0.5] * 16])
    scores[1, L_ANKLE] = 0.95  # for l_ankle: FP, TP, TP -> AP = 0.5 * 2/3 + 0.5 * 2/3
    result = mpii_ap.evaluate([gt("a", [body(0), body(500)])], [pred("a", [body(0), body(2000), body(500)], scores)])
    np.testing.assert_array_equal(result.assignment.pred_to_gt, [0, -1, 1])
    assert result.per_joint["head_top"] == pytest.approx(100 * (0.5 + 0.5 * 2 / 3))
    assert result.per_joint["l_ankle"] == pytest.approx(100 * 2 / 3)
    assert result.table["Ankle"] == pytest.approx((100 * (0.5 + 1 / 3) + 100 * 2 / 3) / 2)
    assert result.assignment.joint_is_tp.sum() == 2 * 14  # the extra has 14 scored joints, all FP


def test_duplicate_loses_to_the_earlier_prediction_on_a_pck_tie_and_is_a_false_positive():
    scores = np.array([0.9, 0.7, 0.5])
    result = mpii_ap.evaluate([gt("a", [body(0), body(500)])], [pred("a", [body(0), body(0), body(500)], scores)])
    np.testing.assert_array_equal(result.assignment.pred_to_gt, [0, -1, 1])
    assert result.table["mAP"] == pytest.approx(100 * (0.5 + 0.5 * 2 / 3))


def test_assignment_prefers_higher_pck_regardless_of_score():
    good, poor = body(0), body(0)
    poor[:8] += 100.0  # pck 8/14: ids 0-5 miss (6, 7 are not scored), ids 8-15 match
    result = mpii_ap.evaluate([gt("a", [body(0)])], [pred("a", [poor, good], [0.99, 0.1])])
    np.testing.assert_array_equal(result.assignment.pred_to_gt, [-1, 0])
    # Each joint: the poor prediction's FP at 0.99 first, then the TP -> precision 1/2 at recall 1.
    assert result.per_joint["head_top"] == pytest.approx(50.0)


def test_prediction_keeps_only_its_best_gt():
    # P0 and P1 both match A on 14/14 and B on nothing: A takes P0 (pck tie, lower index); P1 has
    # no other GT to fall back on, so it is a FP and B's joints are missed.
    result = mpii_ap.evaluate([gt("a", [body(0), body(900)])], [pred("a", [body(0), body(0)], [0.5, 0.6])])
    np.testing.assert_array_equal(result.assignment.pred_to_gt, [0, -1])
    # Per joint: FP (0.6), TP (0.5), 2 positives -> precision 1/2 at recall 1/2.
    assert result.table["mAP"] == pytest.approx(25.0)


def test_pck_tie_between_gts_goes_to_the_first_gt():
    p = body(500)
    p[[9, 10, 11, 12, 13, 14, 15]] = body(0)[[9, 10, 11, 12, 13, 14, 15]]  # 7 of A's joints, 7 of B's
    result = mpii_ap.evaluate([gt("a", [body(0), body(500)])], [pred("a", [p], [0.9])])
    np.testing.assert_array_equal(result.assignment.pred_to_gt, [0])
    assert result.per_joint["head_top"] == pytest.approx(50.0) and result.per_joint["r_ankle"] == 0.0


def test_ties_in_score_keep_input_order():
    far = body(2000)
    # Equal scores: the stable sort keeps prediction order within an image.
    tp_first = ap([gt("a", [body(0), body(500)])], [pred("a", [body(0), body(500), far], [0.5] * 3)])
    fp_first = ap([gt("a", [body(0), body(500)])], [pred("a", [far, body(0), body(500)], [0.5] * 3)])
    assert tp_first["r_knee"] == pytest.approx(100.0)  # TP, TP, FP
    assert fp_first["r_knee"] == pytest.approx(100 * 2 / 3)  # FP, TP, TP: precision 1/2, 2/3 at recall 1/2, 1


def test_empty_predictions_give_zero_not_nan():
    gts = [gt("a", [body(0)]), gt("b", [body(0), body(500)])]
    result = mpii_ap.evaluate(gts, [records.empty_predictions("a"), records.empty_predictions("b")])
    assert all(v == 0.0 for v in result.per_joint.values())
    assert result.table["mAP"] == 0.0 and not np.isnan(list(result.table.values())).any()


def test_missing_gt_joints_are_not_positives():
    present = np.ones((2, 16), bool)
    present[0, L_ANKLE] = False
    # Perfect predictions of A (0.9) and B (0.5), A's with an l_ankle where A has none: for l_ankle
    # FP (0.9), TP (0.5) with one positive -> AP 1/2; a positive for A would cap recall at 1/2.
    result = ap([gt("a", [body(0), body(500)], present)], [pred("a", [body(0), body(500)], [0.9, 0.5])])
    assert result["l_ankle"] == pytest.approx(50.0)
    assert result["r_ankle"] == pytest.approx(100.0)


def test_joint_without_positives_is_undefined_and_left_out_of_the_means():
    present = np.ones((1, 16), bool)
    present[0, L_ANKLE] = False
    result = mpii_ap.evaluate([gt("a", [body(0)], present)], [pred("a", [body(0)], [0.9])])
    assert np.isnan(result.per_joint["l_ankle"])
    assert result.table["Ankle"] == pytest.approx(100.0) and result.table["mAP"] == pytest.approx(100.0)
    assert report.result_to_json(result)["per_joint"]["l_ankle"] is None


def test_pck_divides_by_the_annotated_joints_of_the_gt():
    # GT A has only its 2 wrists annotated, GT B all joints. The prediction hits both of A's wrists
    # (pck 2/2) and 7 of B's joints (pck 7/14): it belongs to A; over 14 joints it would go to B.
    present = np.ones((2, 16), bool)
    present[0] = False
    present[0, [R_WRIST, L_WRIST]] = True
    p = body(3000)
    p[[0, 1, 2, 3, 4, 5, 8]] = body(500)[[0, 1, 2, 3, 4, 5, 8]]
    p[[R_WRIST, L_WRIST]] = body(0)[[R_WRIST, L_WRIST]]
    result = mpii_ap.evaluate([gt("a", [body(0), body(500)], present)], [pred("a", [p], [0.9])])
    np.testing.assert_array_equal(result.assignment.pred_to_gt, [0])
    # r_wrist: a TP for A, B's missed (recall 1/2); r_ankle: only B has one, the prediction's is a FP.
    assert result.per_joint["r_wrist"] == pytest.approx(50.0) and result.per_joint["r_ankle"] == 0.0


def test_table_averages_left_and_right_exactly():
    per_joint = {k: float(i) for i, k in enumerate(MPII16_SCORED)}  # ids 0..5, 8..15 -> 0..13
    table = mpii_ap.ap_table(per_joint)
    assert table["Ankle"] == (per_joint[0] + per_joint[5]) / 2
    assert table["Head"] == (per_joint[8] + per_joint[9]) / 2
    assert table["Wrist"] == (per_joint[10] + per_joint[15]) / 2
    assert table["mAP"] == pytest.approx(6.5)
    assert list(table) == list(report.TABLE_COLUMNS)


def test_voc_ap_on_a_hand_computed_sequence():
    recall = np.array([0.2, 0.4, 0.4, 0.6, 0.8])
    precision = np.array([1.0, 0.5, 2 / 3, 0.5, 0.8])
    # Envelope (right-to-left max): 1, 0.8, 0.8, 0.8, 0.8 -> 0.2 * 1 + 3 * 0.2 * 0.8 = 0.68.
    assert mpii_ap.voc_ap(recall, precision) == pytest.approx(0.68)
    assert mpii_ap.voc_ap(np.array([]), np.array([])) == 0.0
    assert mpii_ap.average_precision(np.array([0.3, 0.9]), np.array([True, False]), 2) == pytest.approx(0.25)
    assert np.isnan(mpii_ap.average_precision(np.array([0.3]), np.array([False]), 0))


# ------------------------------------------------------------------------------- against a plain loop


def _reference_ap(gts, preds, thr=0.5):
    """A direct loop port of the toolkit's assignGTmulti + evaluateAP, for the vectorised version."""
    scores = {k: [] for k in MPII16_SCORED}
    labels = {k: [] for k in MPII16_SCORED}
    npos = {k: 0 for k in MPII16_SCORED}
    for g, p in zip(gts, preds, strict=True):
        P, Q = g.num_people, p.num_people
        match = np.zeros((Q, P, 16), bool)
        pck = np.zeros((Q, P))
        for i in range(Q):
            for j in range(P):
                hs = 0.6 * np.hypot(*(g.head_boxes[j, 2:] - g.head_boxes[j, :2]))
                n = sum(g.present[j, k] for k in MPII16_SCORED)
                for k in MPII16_SCORED:
                    if p.present[i, k] and g.present[j, k]:
                        match[i, j, k] = np.hypot(*(p.keypoints[i, k] - g.keypoints[j, k])) / hs <= thr
                pck[i, j] = sum(match[i, j, k] for k in MPII16_SCORED) / n if n else 0.0
        if Q and P:
            best = pck.argmax(1)
            for i in range(Q):
                pck[i, np.arange(P) != best[i]] = 0
            to_gt = pck.argmax(0)
            to_gt[pck.max(0) == 0] = -1
        else:
            to_gt = np.full(P, -1)
        for i in range(Q):
            js = np.flatnonzero(to_gt == i)
            for k in MPII16_SCORED:
                if p.present[i, k]:
                    scores[k].append(p.scores[i, k])
                    labels[k].append(bool(match[i, js[0], k]) if len(js) else False)
        for k in MPII16_SCORED:
            npos[k] += int(g.present[:, k].sum())
    out = {}
    for k in MPII16_SCORED:
        s, lab = np.array(scores[k]), np.array(labels[k], bool)
        order = sorted(range(len(s)), key=lambda i: -s[i])  # Python's sort is stable
        tp = np.cumsum(lab[order]) if len(s) else np.zeros(0)
        prec, rec = tp / np.arange(1, len(tp) + 1), tp / max(npos[k], 1)
        out[MPII16_NAMES[k]] = 100 * mpii_ap.voc_ap(rec, prec) if npos[k] else float("nan")
    return out


def test_vectorised_assignment_equals_a_plain_loop_on_random_data():
    rng = np.random.default_rng(3)
    gts, preds = [], []
    for i in range(40):
        n, m = rng.integers(0, 4), rng.integers(0, 5)
        x = rng.choice([0, 10, 300, 600], n, replace=False)  # people 10 px apart: pck ties between GTs
        g = gt(f"{i}", [body(v) for v in x], rng.random((n, 16)) < 0.85)
        base = g.keypoints[rng.integers(0, max(n, 1), m)] if n else rng.uniform(0, 900, (m, 16, 2))
        noisy = base + rng.choice([0.0, 10.0, 20.0], (m, 16, 1)) * rng.choice([-1, 1], (m, 16, 2))  # pck ties
        p = pred(f"{i}", noisy, rng.choice([0.2, 0.5, 0.8], (m, 16)), rng.random((m, 16)) < 0.9)  # score ties
        gts.append(g)
        preds.append(p)
    got, want = ap(gts, preds), _reference_ap(gts, preds)
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[k] for k in got], [want[k] for k in got], rtol=0, atol=1e-9)
    assert 5 < mpii_ap.ap_table({MPII16_NAMES.index(k): v for k, v in got.items()})["mAP"] < 95


# ---------------------------------------------------------------------------------------- visibility bins


def test_visibility_bin_index_uses_exact_linear_bins():
    visible = np.array([0, 1, 2, 3, 7, 14, 13, 0])
    annotated = np.array([14, 5, 10, 5, 14, 14, 14, 0])
    # ratios 0, 0.2, 0.2, 0.6, 0.5, 1, 0.93, undefined
    np.testing.assert_array_equal(visibility.visibility_bin_index(visible, annotated), [0, 1, 1, 3, 2, 4, 4, -1])


def test_visibility_bins_on_a_hand_made_case():
    vis = np.ones((3, 16), bool)
    vis[1, [0, 1, 2, 3, 4, 5, 8]] = False  # B: 7 of 14 visible -> 0.5 -> bin 2
    present = np.ones((3, 16), bool)
    present[2, [0, 1, 4, 5]] = False  # C: 10 annotated
    vis[2, :] = False
    vis[2, [10, 15]] = True  # C: 2 of 10 visible -> 0.2 -> bin 1
    g = gt("a", [body(0), body(500), body(1000)], present, vis)  # A: all visible -> bin 4
    # Perfect A (0.9), a duplicate of A (0.95, loses the pck tie), B missed entirely, perfect C.
    p = pred("a", [body(0), body(0), body(500) + 200, body(1000)], [0.9, 0.95, 0.8, 0.7])
    result = mpii_ap.evaluate([g], [p])
    np.testing.assert_array_equal(result.assignment.pred_to_gt, [0, -1, -1, 2])
    np.testing.assert_array_equal(result.assignment.pred_attributed_gt, [0, 0, 1, 2])
    bins = visibility.visibility_bins(result.assignment)
    assert [b.num_people for b in bins] == [0, 1, 1, 0, 1]
    assert [(b.low, b.high) for b in bins][1] == (0.2, 0.4)
    assert np.isnan(bins[0].mAP) and np.isnan(bins[3].mAP)
    assert bins[1].mAP == pytest.approx(100.0)  # C alone, undisturbed by the FPs of A and B
    assert np.isnan(bins[1].per_joint["r_ankle"])  # C has no ankles
    assert bins[2].mAP == pytest.approx(0.0)  # B's prediction: all FP
    assert bins[4].mAP == pytest.approx(50.0)  # A: FP (0.95) then TP -> precision 1/2 at recall 1
    assert bins[0].to_json()["mAP"] is None and bins[4].to_json()["num_people"] == 1


# ----------------------------------------------------------------------------------------------- groups


def _grouped_image():
    # Group 1: people at x 0 and 200; group 2: a person at x 1000; an ungrouped person at x 2000.
    g = gt("img", [body(0), body(200), body(1000), body(2000)], group=[1, 1, 2, -1])
    straddle_in, straddle_out = body(1000), body(1000)
    straddle_in[:4] += 1500  # 12 of 16 joints stay in group 2's area
    straddle_out[:12] += 1500  # only 4 stay
    bodies = [body(0), body(200), body(1000), body(2000), straddle_in, straddle_out, body(5000)]
    return g, pred("img", bodies, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.95])


def test_group_area_is_the_people_box_enlarged_by_head_sizes():
    g, _ = _grouped_image()
    area = groups.group_area(g, g.groups == 1, margin=1.0)
    # Joints span x 0..320 (body(200) reaches 200 + 120), y 0..120, the head boxes lie inside;
    # the margin is one mean head size, 30 px.
    np.testing.assert_allclose(area, [-30, -30, 350, 150])
    np.testing.assert_allclose(groups.group_area(g, g.groups == 1, margin=0.0), [0, 0, 320, 120])


def test_group_restriction_keeps_predictions_inside_and_drops_outside():
    g, p = _grouped_image()
    units_gt, units_pred = groups.restrict_to_groups([g], [p])
    assert [u.name for u in units_gt] == ["img#g1", "img#g2"]
    assert [u.num_people for u in units_gt] == [2, 1]
    assert units_pred[0].person_scores.tolist() == [0.9, 0.8]
    assert units_pred[1].person_scores.tolist() == [0.7, 0.5]  # the straddler with 12/16 inside stays
    only2_gt, only2_pred = groups.restrict_to_groups([g], [p], groups=[2])
    assert [u.name for u in only2_gt] == ["img#g2"] and only2_pred[0].num_people == 2
    # Evaluated per group, the ungrouped person and the far predictions no longer count.
    assert mpii_ap.evaluate(units_gt, units_pred).per_joint["r_knee"] == pytest.approx(100.0)
    assert mpii_ap.evaluate([g], [p]).per_joint["r_knee"] < 100.0


def test_group_margin_decides_near_predictions():
    g, _ = _grouped_image()
    near = pred("img", [body(0) + [-90, 0]], [0.5])  # joint columns at x -90, -50, -10, 30
    assert groups.restrict_to_groups([g], [near], [1], margin=1.0)[1][0].num_people == 1  # 8 of 16 in
    assert groups.restrict_to_groups([g], [near], [1], margin=0.0)[1][0].num_people == 0  # 4 of 16 in


# -------------------------------------------------------------------------------------------------- CLI


def _write_case(tmp_path):
    gts = [gt("001.jpg", [body(0), body(500)], group=[1, 1]), gt("002.jpg", [body(0)], group=[1])]
    preds = [
        pred("001.jpg", [body(0), body(2000), body(500)], [0.9, 0.7, 0.5]),
        pred("002.jpg", [body(0) + 40], [0.2]),  # every joint 57 px off, 9 of 16 in the group area
    ]
    mpii_json_write.write_json(tmp_path / "gt.json", mpii_json_write.ground_truth_to_json(gts))
    mpii_json_write.write_json(tmp_path / "pred.json", mpii_json_write.predictions_to_json(preds))


def _cli(tmp_path, *extra):
    cmd = [sys.executable, "-m", "ltsh_jax.evaluation.mpii", "--annotations", str(tmp_path / "gt.json")]
    cmd += ["--predictions", str(tmp_path / "pred.json"), "--output", str(tmp_path / "out.json"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_cli_end_to_end(tmp_path):
    _write_case(tmp_path)
    md, png, coco = tmp_path / "t.md", tmp_path / "f6.png", tmp_path / "coco.json"
    run = _cli(tmp_path, "--markdown", str(md), "--label", "D_R", "--plot", str(png), "--coco", str(coco))
    assert run.returncode == 0, run.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert set(out) >= {"per_joint", "table", "visibility_bins"}
    assert list(out["table"]) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "mAP"]
    assert len(out["per_joint"]) == 14
    # Per joint: 0.9 TP, 0.7 FP, 0.5 TP, 0.2 FP; 3 positives -> 1/3 * 1 + 1/3 * 2/3 (+ 0 for the third).
    expected = 100 * (1 / 3 + 2 / 9)
    assert out["table"]["mAP"] == pytest.approx(expected)
    assert all(v == pytest.approx(expected) for v in out["per_joint"].values())
    assert [b["num_people"] for b in out["visibility_bins"]] == [0, 0, 0, 0, 3]
    assert out["counts"] == {"units": 2, "gt_people": 3, "predicted_people": 4, "predicted_joints": 56}
    table = md.read_text()
    assert table.splitlines()[0] == "| Model | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | mAP |"
    assert f"| D_R | {expected:.1f} |" in table and table in run.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads(coco.read_text())) == 4


def test_cli_groups_and_bad_input(tmp_path):
    _write_case(tmp_path)
    run = _cli(tmp_path, "--groups", "all")
    assert run.returncode == 0, run.stderr
    # Per group, the extra at x 2000 lies outside 001.jpg's group and is dropped; the other FP
    # stays: .9 TP, .5 TP, .2 FP with 3 positives -> 1/3 + 1/3.
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["counts"]["predicted_people"] == 3
    assert out["table"]["mAP"] == pytest.approx(100 * (1 / 3 + 1 / 3))
    (tmp_path / "pred.json").write_text('{"annolist": [{"image": [{"name": "999.jpg"}], "annorect": []}]}')
    run = _cli(tmp_path)
    assert run.returncode == 2 and "999.jpg" in run.stderr and "not in the GT" in run.stderr
