"""Tests of ltsh_jax.data.decoding's full-image and mask decoders, and of sources.decode_example on a
hand-made raw example (the crop's reduced decoding is tested in test_crops)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ltsh_jax.data import decoding, sources
from ltsh_jax.data.schema import NO_GROUP, NOT_LABELLED, OCCLUDED, VISIBLE
from tests.paths import REAL_MPII


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_image_returns_rgb_uint8():
    image = decoding.decode_image(_png(np.full((4, 5), 77, np.uint8)))  # grayscale -> RGB
    assert image.shape == (4, 5, 3) and image.dtype == np.uint8 and (image == 77).all()
    real = decoding.decode_image((REAL_MPII / "052475643.jpg").read_bytes())
    assert real.ndim == 3 and real.shape[2] == 3 and real.std() > 10


def test_decode_image_rejects_garbage_naming_it():
    with pytest.raises(ValueError, match=r"broken\.jpg: cannot decode image"):
        decoding.decode_image(b"definitely not a jpeg", "broken.jpg")


def test_decode_mask_values_absence_and_shape():
    ids = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000).astype(np.uint16)
    np.testing.assert_array_equal(decoding.decode_mask(_png(ids)), ids)  # 16-bit values kept
    assert decoding.decode_mask(b"") is None and decoding.decode_mask(None) is None
    given = np.ones((3, 4), bool)
    assert decoding.decode_mask(given) is given
    with pytest.raises(ValueError, match=r"m\.png: mask shape \(3, 4\) differs from the image's \(4, 3\)"):
        decoding.decode_mask(_png(ids), "m.png", (4, 3))
    with pytest.raises(ValueError, match="m.png: cannot decode mask"):
        decoding.decode_mask(b"not a png", "m.png")


def _raw_example(image: bytes, height: int, width: int, instance_mask: bytes = b"") -> dict:
    keypoints = np.zeros((2, 16, 3), np.float32)
    keypoints[0, 0] = (1.0, 2.0, VISIBLE)
    keypoints[0, 1] = (3.0, 1.0, OCCLUDED)
    keypoints[1, 2] = (4.0, 3.0, VISIBLE)
    people = {
        "keypoints": keypoints,
        "head_box": np.array([[0, 0, 2, 2], [np.nan] * 4], np.float32),
        "objpos": np.array([[1, 1], [4, 3]], np.float32),
        "scale": np.array([0.5, 0.7], np.float32),
        "is_synthetic": np.array([False, True]),
        "min_distance": np.array([1.0, 1.0], np.float32),
        "group_id": np.array([3, NO_GROUP], np.int32),
    }
    mask = np.zeros((height, width), np.uint8)
    mask[0, 0] = 255
    return {
        "image": image, "image/filename": b"sub/a.png", "image/height": height, "image/width": width,
        "camera_pitch": np.float32(12.5), "people": people, "unannotated_mask": _png(mask),
        "instance_mask": instance_mask,
    }  # fmt: skip


def test_decode_example_keeps_the_fields():
    pixels = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    instances = np.zeros((5, 6), np.uint16)
    instances[2, 3] = 2
    record = sources.decode_example(_raw_example(_png(pixels), 5, 6, _png(instances)))
    np.testing.assert_array_equal(record.image, pixels)
    assert record.name == "sub/a.png" and record.camera_pitch == 12.5 and record.num_people == 2
    assert record.visibility[0, :3].tolist() == [VISIBLE, OCCLUDED, NOT_LABELLED]
    assert record.labelled[1].sum() == 1 and record.visible[1, 2] and not record.visible[0, 1]
    np.testing.assert_array_equal(record.keypoints[0, 1], [3.0, 1.0])
    np.testing.assert_array_equal(record.centers, [[1, 1], [4, 3]])
    np.testing.assert_array_equal(record.scales, np.float32([0.5, 0.7]))
    assert record.group_id.tolist() == [3, NO_GROUP] and np.isnan(record.head_box[1]).all()
    assert record.covered_by_synthetic is None  # not stored in this example
    assert record.unannotated_mask.dtype == bool and record.unannotated_mask.sum() == 1
    assert record.instance_mask.dtype == np.int32 and record.instance_mask[2, 3] == 2


def test_decode_example_refuses_a_size_mismatch():
    with pytest.raises(ValueError, match=r"sub/a\.png: decoded image is \(5, 6\), the example says \(6, 6\)"):
        sources.decode_example(_raw_example(_png(np.zeros((5, 6, 3), np.uint8)), 6, 6))
