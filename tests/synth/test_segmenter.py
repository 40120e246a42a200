"""Tests of the real-human masks: keypoint capsules (default) and user-supplied mask folders."""

import json

import numpy as np
import pytest
from PIL import Image

from ltsh_jax.synth import segmenter
from tests.paths import REAL_MPII

MPII = REAL_MPII


def person(joints: dict[int, tuple[float, float]]) -> np.ndarray:
    keypoints = np.zeros((1, 16, 3))
    for j, (x, y) in joints.items():
        keypoints[0, j] = (x, y, 2)
    return keypoints


def test_single_capsule_geometry():
    """A right forearm (wrist-elbow) alone: a capsule of radius ARM_RADIUS * height around the segment."""
    keypoints = person({segmenter.R_WRIST: (20, 50), segmenter.R_ELBOW: (80, 50)})
    mask = segmenter.KeypointSegmenter()("x", (100, 120), keypoints, scales=np.array([1.0]))
    radius = segmenter.ARM_RADIUS * 200  # 6 px
    ys, xs = np.mgrid[:100, :120]
    # Distance of each pixel to the segment, by the reference formula.
    t = np.clip((xs - 20) / 60, 0, 1)
    distance = np.hypot(xs - (20 + 60 * t), ys - 50)
    assert mask[distance < radius - 1.5].all()
    assert not mask[distance > radius + 1.5].any()


def test_unlabelled_joints_draw_nothing_and_head_disc():
    assert not segmenter.KeypointSegmenter()("x", (50, 50), np.zeros((2, 16, 3))).any()
    keypoints = person({segmenter.HEAD_TOP: (50, 20), segmenter.NECK: (50, 60)})
    mask = segmenter.KeypointSegmenter()("x", (100, 100), keypoints, scales=np.array([0.01]))
    assert mask[40, 50 - 22] and mask[40, 50 + 22] and not mask[40, 50 - 26]  # head disc radius 0.6 * 40 = 24


def test_real_samples_cover_every_labelled_joint():
    records = json.loads((MPII / "test_mpii.json").read_text())
    for record in records:
        with Image.open(MPII / record["image"]) as image:
            shape = (image.height, image.width)
        vis = np.array(record["joints_vis"], float)
        keypoints = np.concatenate([np.array(record["joints"]), 2 * vis[:, None]], 1)[None]
        mask = segmenter.KeypointSegmenter()(record["image"], shape, keypoints, np.array([record["scale"]]))
        for x, y, v in keypoints[0]:
            if v and 0 <= x < shape[1] and 0 <= y < shape[0]:
                assert mask[round(y), round(x)], (record["image"], x, y)
        assert 0.005 < mask.mean() < 0.5  # a person, neither nothing nor the whole photo


def test_folder_segmenter(tmp_path):
    mask = np.zeros((30, 40), np.uint8)
    mask[5:10, 6:12] = 255
    Image.fromarray(mask).save(tmp_path / "004645041.png")
    folder = segmenter.FolderSegmenter(tmp_path)
    got = folder("images/004645041.jpg", (30, 40), None)
    np.testing.assert_array_equal(got, mask > 0)
    Image.fromarray(np.stack([mask] * 3, -1)).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(folder("rgb.jpg", (30, 40)), mask > 0)
    with pytest.raises(ValueError, match=r"004645041.png is 30x40, but image .* is 31x40"):
        folder("004645041.jpg", (31, 40))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        folder("missing.jpg", (30, 40))
    outside = tmp_path.parent / f"{tmp_path.name}_outside.png"
    Image.fromarray(mask).save(outside)
    (tmp_path / "linked.png").symlink_to(outside)
    with pytest.raises(
        ValueError, match=r"the mask of image images/linked\.jpg: file name 'linked\.png' leads to .*outside"
    ):
        folder("images/linked.jpg", (30, 40))


def test_bad_keypoints():
    with pytest.raises(ValueError, match=r"\[P, 16, 3\]"):
        segmenter.KeypointSegmenter()("x", (10, 10), np.zeros((1, 15, 3)))
    keypoints = person({0: (1, 1), 1: (np.nan, 3)})
    with pytest.raises(ValueError, match="x: person 0 has non-finite"):
        segmenter.KeypointSegmenter()("x", (10, 10), keypoints)
