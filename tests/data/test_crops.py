"""Tests of the crop's decoding (ltsh_jax.data.decoding) and warping (OpenCV): the same pixels as PIL's
decoder at every DCT scale, bad bytes named, the warp against PIL's bilinear transform, and dots drawn at
known joints found under the crop's keypoints when the JPEG is decoded at a reduced size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ltsh_jax.data import augment, crops, decoding
from ltsh_jax.data.augment import AugmentParams, affine_matrix
from ltsh_jax.data.schema import min_distances
from ltsh_jax.data.sources import PeopleRecord
from ltsh_jax.skeleton import CMU_MPI


def _smooth(width: int, height: int) -> np.ndarray:
    x, y = np.meshgrid(np.linspace(0, 7, width), np.linspace(0, 5, height))
    return (127 + 120 * np.stack([np.sin(x), np.cos(y), np.sin(x + y)], -1)).astype(np.uint8)


def _encode(pixels: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(("scale", "factor"), [(1.3, 1), (0.9, 1), (0.5, 2), (0.3, 2), (0.25, 4), (0.1, 8)])
def test_jpeg_decoded_at_the_dct_scale_equals_pils_decoder(scale, factor):
    pixels = _smooth(321, 239)  # odd sizes: reduced images are ceil(size / factor)
    data = _encode(pixels, quality=90)
    matrix = affine_matrix((160, 120), scale, 20.0, (0, 0), False, 64)
    decoded, reduced = decoding.decode_image_for_crop(data, matrix)
    with Image.open(io.BytesIO(data)) as pil:
        if factor > 1:
            pil.draft("RGB", (321 // factor, 239 // factor))  # PIL: the largest k with size // k >= asked
        want = np.asarray(pil.convert("RGB"))
    assert decoded.shape == (-(-239 // factor), -(-321 // factor), 3)
    assert np.abs(decoded.astype(int) - want).max() <= 1
    np.testing.assert_allclose(reduced, decoding.reduced_matrix(matrix, factor) if factor > 1 else matrix)


def test_png_grayscale_cmyk_and_bad_bytes():
    rgba = np.dstack([_smooth(40, 30), np.full((30, 40), 200, np.uint8)])
    decoded, _ = decoding.decode_image_for_crop(_encode(rgba, "PNG"), np.eye(2, 3) * 0.2)
    np.testing.assert_array_equal(decoded, rgba[..., :3])  # PNGs are never reduced; alpha dropped
    gray = _smooth(64, 48)[..., 0]
    decoded, _ = decoding.decode_image_for_crop(_encode(gray, quality=95), np.eye(2, 3))
    with Image.open(io.BytesIO(_encode(gray, quality=95))) as pil:
        np.testing.assert_array_equal(decoded, np.asarray(pil.convert("RGB")))
    buffer = io.BytesIO()
    Image.fromarray(_smooth(64, 48)).convert("CMYK").save(buffer, format="JPEG", quality=95)
    cmyk = buffer.getvalue()
    decoded, _ = decoding.decode_image_for_crop(cmyk, np.eye(2, 3))
    with Image.open(io.BytesIO(cmyk)) as pil:
        assert np.abs(decoded.astype(int) - np.asarray(pil.convert("RGB"))).max() <= 2
    data = _encode(_smooth(64, 48), quality=95)
    with pytest.raises(ValueError, match="cannot decode image"):
        decoding.decode_image_for_crop(data[: len(data) // 2], np.eye(2, 3))  # truncated: PIL names it, no grey rest
    with pytest.raises(ValueError, match="cannot decode image"):
        decoding.decode_image_for_crop(b"not an image", np.eye(2, 3))


def test_warp_agrees_with_pils_bilinear_transform():
    """OpenCV's warp against the PIL transform it replaced: same sampling points, fixed-point weights."""
    pixels = _smooth(200, 150)
    for rotate, flip in ((0.0, False), (33.0, True), (-71.0, False)):
        matrix = affine_matrix((100, 75), 0.7, rotate, (3, -5), flip, 64)
        ours = augment.warp_image(pixels, matrix, 64).astype(int)
        pil = augment._pil_warp(Image.fromarray(pixels), matrix, 64, Image.Resampling.BILINEAR, (128,) * 3)
        diff = np.abs(ours - np.asarray(pil, int))[4:-4, 4:-4]
        assert diff.max() <= 2 and diff.mean() < 0.5


def test_dots_at_joints_lie_under_the_crop_keypoints_with_reduced_decoding():
    """16 grey squares of distinct levels at the joints of a 640x480 JPEG; for crop scales that decode at
    1, 1/2 and 1/4, every labelled single-joint part inside the crop sits on its joint's square."""
    grid = np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(16, 2)
    joints = (np.array([200.0, 120.0]) + 80 * grid).astype(np.float32)
    levels = 40 + 12 * np.arange(16)
    pixels = np.zeros((480, 640, 3), np.uint8)
    for (x, y), level in zip(joints.astype(int), levels, strict=True):
        pixels[y - 14 : y + 15, x - 14 : x + 15] = level
    record = PeopleRecord(
        image=_encode(pixels, quality=95),
        keypoints=joints[None],
        labelled=np.ones((1, 16), bool),
        centers=np.array([[320.0, 240.0]], np.float32),
        scales=np.array([1.0], np.float32),
        is_synthetic=np.zeros(1, bool),
        min_distance=min_distances(joints[None], np.ones((1, 16), bool)),
    )
    params = AugmentParams(crop_size=160, scale_min=1.0, scale_max=1.0, max_shift=10.0, flip_prob=0.5)
    rng = np.random.default_rng(0)
    factors, flips, total = set(), [], 0
    for crop_scale in (0.7, 0.3, 0.22) * 4:
        scaled = PeopleRecord(**{**record.__dict__, "scales": np.array([1.25 / crop_scale], np.float32)})
        replay = np.random.default_rng()
        replay.bit_generator.state = rng.bit_generator.state  # the draws make_example is about to make
        matrix, flipped = augment.sample_transform(replay, scaled.centers[0], scaled.scales[0], params, augment=True)
        factors.add(decoding.dct_factor(matrix))
        example = crops.make_example(scaled, 0, rng, params, CMU_MPI, 2)
        flips.append(flipped)
        checked = 0
        for part, mpii_ids in enumerate(CMU_MPI.from_mpii16):
            if len(mpii_ids) != 1:
                continue
            x, y = np.round(example["people"].keypoints[0, part]).astype(int)
            if not (3 <= x < 157 and 3 <= y < 157):
                continue
            source = CMU_MPI.flip_permutation[part] if flipped else part
            want = levels[CMU_MPI.from_mpii16[source][0]]
            assert np.abs(example["image"][y, x].astype(int) - want).max() <= 4, (crop_scale, part)
            checked += 1
        assert checked >= 4
        total += checked
    assert factors == {1, 2, 4} and total >= 80
    assert 0 < sum(flips) < len(flips)
