"""MPII interchange JSON (evaluation.mpii_json_io): round trip, variants, named errors; COCO export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltsh_jax.evaluation import coco_export, mpii_json_io, mpii_json_write
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage
from ltsh_jax.skeleton import COCO17, MPII16_NAMES


def _gt_images() -> list[GroundTruthImage]:
    rng = np.random.default_rng(0)
    present = rng.random((2, 16)) < 0.8
    visible = present & (rng.random((2, 16)) < 0.5)
    kp = np.where(present[..., None], rng.uniform(0, 300, (2, 16, 2)), 0.0)
    boxes = np.array([[10.0, 20.0, 40.0, 60.0], [100.5, 5.0, 130.0, 45.25]])
    return [
        GroundTruthImage("000001.jpg", kp, present, visible, boxes, np.array([3, -1])),
        GroundTruthImage(
            "empty.jpg",
            np.zeros((0, 16, 2)),
            np.zeros((0, 16), bool),
            np.zeros((0, 16), bool),
            np.zeros((0, 4)),
            np.zeros(0, np.int64),
        ),
    ]


def _pred_images() -> list[PredictionImage]:
    rng = np.random.default_rng(1)
    present = rng.random((3, 16)) < 0.7
    kp = np.where(present[..., None], rng.uniform(0, 300, (3, 16, 2)), 0.0)
    scores = np.where(present, rng.random((3, 16)), 0.0)
    return [PredictionImage("000001.jpg", kp, present, scores, np.array([0.5, 0.25, 0.125]))]


def _write(tmp_path, data, name="f.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_ground_truth_round_trip(tmp_path):
    images = _gt_images()
    path = tmp_path / "sub" / "gt.json"
    mpii_json_write.write_json(path, mpii_json_write.ground_truth_to_json(images))
    back = mpii_json_io.load_ground_truth(path)
    assert [b.name for b in back] == ["000001.jpg", "empty.jpg"] and back[1].num_people == 0
    for field in ("keypoints", "present", "visible", "head_boxes", "groups"):
        np.testing.assert_array_equal(getattr(back[0], field), getattr(images[0], field), err_msg=field)
    rect = json.loads(path.read_text())["annolist"][0]["annorect"]
    assert rect[0]["group"] == [3] and "group" not in rect[1] and rect[0]["x1"] == [10.0]


def test_predictions_round_trip(tmp_path):
    images = _pred_images()
    mpii_json_write.write_json(tmp_path / "p.json", mpii_json_write.predictions_to_json(images))
    back = mpii_json_io.load_predictions(tmp_path / "p.json")
    for field in ("keypoints", "present", "scores", "person_scores"):
        np.testing.assert_array_equal(getattr(back[0], field), getattr(images[0], field), err_msg=field)


def test_tolerated_variants(tmp_path):
    data = [  # a bare list, "image" as a string, "annorect" as a dict, scalars, "point" as a dict
        {
            "image": "a.jpg",
            "annorect": {
                "x1": 0,
                "y1": 0,
                "x2": 30,
                "y2": 40,
                "group": 2,
                "annopoints": {"point": {"id": 9, "x": 5, "y": 6.5, "is_visible": "0"}},
            },
        },
        {"image": {"name": "b.jpg"}, "annorect": [{"x1": [0], "y1": [0], "x2": [3], "y2": [4]}]},
        {"image": [{"name": "c.jpg"}]},
    ]
    gt = mpii_json_io.load_ground_truth(_write(tmp_path, data))
    assert [g.name for g in gt] == ["a.jpg", "b.jpg", "c.jpg"] and [g.num_people for g in gt] == [1, 1, 0]
    assert gt[0].present[0].tolist() == [k == 9 for k in range(16)] and not gt[0].visible[0, 9]
    np.testing.assert_array_equal(gt[0].keypoints[0, 9], [5, 6.5])
    assert gt[0].groups.tolist() == [2] and gt[1].groups.tolist() == [-1] and not gt[1].present.any()
    # Missing is_visible means visible.
    data[0]["annorect"]["annopoints"]["point"].pop("is_visible")
    assert mpii_json_io.load_ground_truth(_write(tmp_path, data))[0].visible[0, 9]


def test_prediction_scores_fall_back_between_joint_and_person(tmp_path):
    points = [{"id": [0], "x": [1], "y": [2], "score": [0.8]}, {"id": [3], "x": [1], "y": [2]}]
    data = {
        "annolist": [
            {
                "image": [{"name": "a.jpg"}],
                "annorect": [
                    {"score": 0.5, "annopoints": [{"point": points}]},
                    {"annopoints": [{"point": points[:1] + [{"id": 4, "x": 0, "y": 0, "score": 0.4}]}]},
                ],
            }
        ]
    }
    pred = mpii_json_io.load_predictions(_write(tmp_path, data))[0]
    assert pred.scores[0, [0, 3]].tolist() == [0.8, 0.5]  # joint 3 takes the person's score
    assert pred.person_scores.tolist() == [0.5, pytest.approx(0.6)]  # person 1: mean of its joints
    assert pred.scores[0, 5] == 0.0 and not pred.present[0, 5]


@pytest.mark.parametrize(
    "rect, message",
    [
        (
            {"x1": 0, "y1": 0, "x2": 1, "y2": 1, "annopoints": [{"point": [{"id": [16], "x": [1], "y": [1]}]}]},
            "image 0 ('a.jpg'), person 1, joint id 16",
        ),
        (
            {"x1": 0, "y1": 0, "x2": 1, "y2": 1, "annopoints": [{"point": [{"id": [3], "x": [float("nan")], "y": 1}]}]},
            "image 0 ('a.jpg'), person 1, joint id 3: field 'x' is NaN",
        ),
        (
            {"annopoints": [{"point": [{"id": [3], "x": [1], "y": [1]}]}]},
            "image 0 ('a.jpg'), person 1: GT person without a head box (missing x1, y1, x2, y2)",
        ),
        ({"x1": 0, "y1": 0, "x2": 0, "y2": 0}, "person 1: the head box has zero size"),
        (
            {"x1": 0, "y1": 0, "x2": 1, "y2": 1, "annopoints": [{"point": [{"id": [2], "x": [1], "y": [1]}] * 2}]},
            "person 1, joint id 2: the joint is given twice",
        ),
        ({"x1": 0, "y1": 0, "x2": 1, "y2": 1, "group": 1.5}, "person 1: field 'group' must be a non-negative"),
    ],
)
def test_bad_ground_truth_names_the_record(tmp_path, rect, message):
    good = {"x1": 0, "y1": 0, "x2": 1, "y2": 1}
    path = _write(tmp_path, {"annolist": [{"image": [{"name": "a.jpg"}], "annorect": [good, rect]}]})
    with pytest.raises(ValueError) as e:
        mpii_json_io.load_ground_truth(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_malformed_json_and_other_file_errors_name_the_file(tmp_path):
    path = _write(tmp_path, '{"annolist": [', "broken.json")
    with pytest.raises(ValueError, match=r"broken\.json: malformed JSON at line 1"):
        mpii_json_io.load_ground_truth(path)
    path = _write(tmp_path, {"annolist": [{"image": "a.jpg"}, {"image": "a.jpg"}]}, "dup.json")
    with pytest.raises(ValueError, match=r"dup\.json: image 1 \('a\.jpg'\): the image is listed twice"):
        mpii_json_io.load_predictions(path)
    path = _write(tmp_path, {"annolist": [{"annorect": []}]}, "noname.json")
    with pytest.raises(ValueError, match=r"noname\.json: image 0: missing or invalid image name"):
        mpii_json_io.load_predictions(path)
    rect = {"annopoints": [{"point": [{"id": 7, "x": 1, "y": 1}]}]}  # neither joint nor person score
    path = _write(tmp_path, {"annolist": [{"image": "a.jpg", "annorect": [rect]}]}, "noscore.json")
    with pytest.raises(ValueError, match=r"person 0, joint id 7: no 'score'"):
        mpii_json_io.load_predictions(path)


def test_align_predictions_follows_gt_and_refuses_unknown_images():
    gt = _gt_images()
    aligned = mpii_json_io.align_predictions(gt, _pred_images())
    assert [p.name for p in aligned] == ["000001.jpg", "empty.jpg"] and [p.num_people for p in aligned] == [3, 0]
    stranger = PredictionImage("zzz.jpg", *[np.zeros((0,) + s) for s in ((16, 2), (16,), (16,), ())])
    with pytest.raises(ValueError, match=r"pred\.json: image 1 \('zzz\.jpg'\): a prediction for an image that is not"):
        mpii_json_io.align_predictions(gt, _pred_images() + [stranger], "pred.json")


def test_coco_export_maps_joints_by_name():
    preds = _pred_images()
    out = coco_export.to_coco_results(preds)
    assert len(out) == 3 and all(o["image_id"] == 1 and o["category_id"] == 1 for o in out)
    assert [o["score"] for o in out] == [0.5, 0.25, 0.125]
    kp = np.array(out[0]["keypoints"]).reshape(17, 3)
    np.testing.assert_array_equal(kp[:5], 0.0)  # nose, eyes, ears: no MPII counterpart
    p = preds[0]
    for part, name in enumerate(COCO17.part_names[5:], start=5):
        k = MPII16_NAMES.index(name)
        expected = [*p.keypoints[0, k], p.scores[0, k]] if p.present[0, k] else [0.0, 0.0, 0.0]
        np.testing.assert_allclose(kp[part], expected, err_msg=name)
    assert coco_export.to_coco_results(preds, image_ids={"000001.jpg": 42})[0]["image_id"] == 42
    renamed = [PredictionImage("x.jpg", p.keypoints, p.present, p.scores, p.person_scores)]
    with pytest.raises(ValueError, match="x.jpg"):
        coco_export.to_coco_results(renamed)
    json.dumps(out)  # plain Python types only


def test_records_refuse_inconsistent_shapes():
    with pytest.raises(ValueError, match=r"image 'a.jpg': present must have shape \(2, 16\), got \(1, 16\)"):
        GroundTruthImage(
            "a.jpg",
            np.zeros((2, 16, 2)),
            np.zeros((1, 16), bool),
            np.zeros((2, 16), bool),
            np.ones((2, 4)),
            np.zeros(2, np.int64),
        )
    with pytest.raises(ValueError, match=r"person_scores must have shape \(1,\)"):
        PredictionImage("a.jpg", np.zeros((1, 16, 2)), np.zeros((1, 16), bool), np.zeros((1, 16)), np.zeros(2))
