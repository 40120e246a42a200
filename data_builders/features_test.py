"""The shared schema's helpers: minimal distances, mask encodings, example checks, the bad-input report."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from data_builders.features import (
    encode_instance_mask,
    encode_mask,
    make_example,
    multiperson_features,
)
from ltsh_jax.data.bad_input import BadInputError, BadInputReport


def _person(points: dict[int, tuple[float, float]]) -> np.ndarray:
    kp = np.zeros((16, 3), np.float32)
    for joint, (x, y) in points.items():
        kp[joint] = (x, y, 2)
    return kp


def test_masks_round_trip_and_encode_deterministically():
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:6] = True
    data = encode_mask(mask)
    assert data == encode_mask(mask)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))) > 0, mask)
    ids = np.arange(35, dtype=np.int64).reshape(5, 7) * 1000
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_instance_mask(ids)))), ids)
    with pytest.raises(ValueError, match="instance ids"):
        encode_instance_mask(ids * 10)


def test_make_example_checks_and_matches_the_features():
    kp = np.stack([_person({0: (1, 2)}), _person({3: (4, 5)})])
    kwargs = dict(image=b"jpeg", filename="a.jpg", height=4, width=5, keypoints=kp, head_box=np.zeros((2, 4)))
    kwargs.update(objpos=np.zeros((2, 2)), scale=[1, 2], is_synthetic=[False, True], group_id=[3, -1])
    example = make_example(**kwargs)
    np.testing.assert_allclose(example["people"]["min_distance"], [np.hypot(3, 3)] * 2)
    assert np.isnan(example["camera_pitch"]) and example["unannotated_mask"] == b""
    multiperson_features().encode_example(example)  # the schema accepts it
    bad = kp.copy()
    bad[0, 0, 2] = 3
    with pytest.raises(ValueError, match="a.jpg: keypoint visibility"):
        make_example(**{**kwargs, "keypoints": bad})
    with pytest.raises(ValueError, match=r"shape \(P >= 1, 16, 3\)"):
        make_example(**{**kwargs, "keypoints": kp[:0]})


def test_report_raises_or_counts():
    with pytest.raises(BadInputError, match=r"f.json record 3: bad \[joint_outside_image;"):
        BadInputReport("raise").problem("joint_outside_image", "f.json record 3: bad")
    report = BadInputReport("skip")
    report.problem("missing_image", "a")
    report.problem("missing_image", "b")
    report.note("ignored_file", "c")
    assert report.problem_counts == {"missing_image": 2} and report.note_counts == {"ignored_file": 1}
    assert report.summary().startswith("skipped bad input: 2")
    with pytest.raises(ValueError, match="on_bad_input"):
        BadInputReport("ignore")
