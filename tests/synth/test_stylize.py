"""Tests of the masked photorealistic stylization (stylize.py) and its matting-Laplacian smoothing (matting.py)."""

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from ltsh_jax.synth import matting, stylize
from ltsh_jax.synth.segmenter import KeypointSegmenter
from tests.paths import REAL_MPII

MPII = REAL_MPII
FAST = stylize.StylizeConfig(max_side=160, cg_maxiter=30)


def dense_affinity(image: np.ndarray, eps: float) -> np.ndarray:
    """Levin et al.'s matting affinity W [N, N], built window by window and pair by pair (the reference)."""
    height, width, _ = image.shape
    dense = np.zeros((height * width, height * width))
    for cy in range(1, height - 1):
        for cx in range(1, width - 1):
            index = [(y, x) for y in range(cy - 1, cy + 2) for x in range(cx - 1, cx + 2)]
            colours = np.array([image[y, x] for y, x in index])
            mean = colours.mean(0)
            inverse = np.linalg.inv((colours - mean).T @ (colours - mean) / 9 + eps / 9 * np.eye(3))
            for a, (ya, xa) in enumerate(index):
                for b, (yb, xb) in enumerate(index):
                    term = 1 + (colours[a] - mean) @ inverse @ (colours[b] - mean)
                    dense[ya * width + xa, yb * width + xb] += term / 9
    return dense


def test_affinity_matvec_matches_dense_reference():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(5, 6, 3))
    dense = dense_affinity(image, 1e-3)
    affinity = matting.matting_affinity(jnp.asarray(image, jnp.float32), 1e-3)
    p = rng.normal(size=(5, 6, 2))
    got = np.asarray(matting.affinity_matvec(affinity, jnp.asarray(p, jnp.float32)))
    np.testing.assert_allclose(got, (dense @ p.reshape(30, 2)).reshape(5, 6, 2), atol=1e-4)
    np.testing.assert_allclose(np.asarray(affinity.degree).ravel(), dense.sum(1), atol=1e-5)
    np.testing.assert_allclose(dense, dense.T, atol=1e-9)  # the reference is symmetric, so CG applies


def test_smoothing_solves_the_closed_form_system():
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(5, 6, 3))
    target = rng.uniform(size=(5, 6, 3))
    dense = dense_affinity(image, 1e-3)
    degree = dense.sum(1)
    normalised = dense / np.sqrt(degree[:, None] * degree[None, :])
    beta = 0.9
    want = np.linalg.solve(np.eye(30) - beta * normalised, (1 - beta) * target.reshape(30, 3))
    got = matting.smooth(
        jnp.asarray(image, jnp.float32), jnp.asarray(target, jnp.float32), beta=beta, eps=1e-3, tol=1e-7, maxiter=500
    )
    np.testing.assert_allclose(np.asarray(got).reshape(30, 3), want, atol=1e-4)


def test_smoothing_keeps_functions_affine_in_the_guide():
    """A locally affine function of the guide lies in the matting Laplacian's null space: W y = D y inside."""
    rng = np.random.default_rng(2)
    guide = rng.uniform(size=(12, 10, 3)).astype(np.float32)
    affine = guide @ np.array([[0.5, -0.2], [0.1, 0.3], [0.2, 0.4]], np.float32) + np.array([0.1, 0.2], np.float32)
    affinity = matting.matting_affinity(jnp.asarray(guide), 1e-9)
    got = np.asarray(matting.affinity_matvec(affinity, jnp.asarray(affine)))
    np.testing.assert_allclose(got, np.asarray(affinity.degree)[..., None] * affine, atol=2e-3)


def test_smoothing_bad_input():
    with pytest.raises(ValueError, match="at least 3x3"):
        matting.matting_affinity(jnp.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        matting.matting_affinity(jnp.zeros((4, 5)))


def test_masked_wct_moves_region_moments_exactly():
    rng = np.random.default_rng(3)
    content = rng.uniform(size=(20, 30, 3)).astype(np.float32) @ np.diag([0.2, 0.5, 0.1]).astype(np.float32)
    style = rng.normal(0.5, 0.1, size=(25, 15, 3)).astype(np.float32)
    content_mask = np.zeros((20, 30), bool)
    content_mask[5:15, 3:20] = True
    style_mask = rng.uniform(size=(25, 15)) < 0.4
    out = stylize.masked_wct(jnp.asarray(content), content_mask, jnp.asarray(style), style_mask, 1e-12)
    mean, cov = stylize.region_moments(out, content_mask)
    style_mean, style_cov = stylize.region_moments(jnp.asarray(style), style_mask)
    # Reference moments computed directly with numpy.
    np.testing.assert_allclose(np.asarray(style_mean), style[style_mask].mean(0), atol=1e-5)
    np.testing.assert_allclose(np.asarray(style_cov), np.cov(style[style_mask].T, bias=True), atol=1e-5)
    np.testing.assert_allclose(np.asarray(mean), np.asarray(style_mean), atol=1e-4)
    np.testing.assert_allclose(np.asarray(cov), np.asarray(style_cov), atol=1e-4)
    np.testing.assert_array_equal(np.asarray(out)[~content_mask], content[~content_mask])


def real_sample(index: int = 0):
    """A real MPII photo, its real person's mask, and a content image with a flat green 'synthetic human'."""
    record = json.loads((MPII / "test_mpii.json").read_text())[index]
    photo = np.asarray(Image.open(MPII / record["image"]).convert("RGB"))
    keypoints = np.concatenate([np.array(record["joints"]), 2.0 * np.array(record["joints_vis"])[:, None]], 1)[None]
    segment = KeypointSegmenter()
    real = segment(record["image"], photo.shape[:2], keypoints, np.array([record["scale"]]))
    shifted = keypoints.copy()
    shifted[..., 0] -= 0.4 * photo.shape[1]
    synthetic = segment("synthetic", photo.shape[:2], shifted, np.array([record["scale"]])) & ~real
    rng = np.random.default_rng(index)
    ramp = np.linspace(0, 40, photo.shape[0])[:, None, None]
    texture = np.array([20.0, 190.0, 30.0]) + ramp + rng.uniform(-10, 10, photo.shape)
    content = photo.copy()
    content[synthetic] = np.clip(texture[synthetic], 0, 255).astype(np.uint8)
    return photo, real, content, synthetic


@pytest.mark.parametrize("index", [0, 3])
def test_real_sample_outside_unchanged_and_statistics_move_toward_real_people(index):
    photo, real, content, synthetic = real_sample(index)
    out = stylize.stylize(content, synthetic, photo, real, FAST)
    assert out.shape == content.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~synthetic], content[~synthetic])

    def moments(image, mask):
        pixels = image[mask].astype(np.float64)
        return pixels.mean(0), np.cov(pixels.T)

    real_mean, real_cov = moments(photo, real)
    before_mean, before_cov = moments(content, synthetic)
    after_mean, after_cov = moments(out, synthetic)
    assert np.linalg.norm(after_mean - real_mean) < 0.2 * np.linalg.norm(before_mean - real_mean)
    assert np.linalg.norm(after_cov - real_cov) < 0.5 * np.linalg.norm(before_cov - real_cov)


def test_full_resolution_config_and_determinism():
    photo, real, content, synthetic = real_sample(1)
    config = FAST
    first = stylize.stylize(content, synthetic, photo, real, config)
    np.testing.assert_array_equal(first, stylize.stylize(content, synthetic, photo, real, config))
    unsmoothed = stylize.stylize(content, synthetic, photo, real, stylize.StylizeConfig(max_side=160, smooth=False))
    np.testing.assert_array_equal(unsmoothed[~synthetic], content[~synthetic])


def test_fitted_shape():
    assert stylize.fitted_shape(720, 1280, 600) == (338, 600)
    assert stylize.fitted_shape(1280, 720, 600) == (600, 338)
    assert stylize.fitted_shape(300, 400, 600) == (300, 400)  # never enlarged


def test_bad_input():
    image = np.zeros((40, 50, 3), np.uint8)
    mask = np.zeros((40, 50), bool)
    mask[10:30, 10:30] = True
    with pytest.raises(ValueError, match="content_mask .* has shape \\(40, 49\\)"):
        stylize.stylize(image, mask[:, :49], image, mask)
    with pytest.raises(ValueError, match="style_mask"):
        stylize.stylize(image, mask, image, mask[:39])
    with pytest.raises(stylize.DegenerateRegionError, match="synthetic humans"):
        stylize.stylize(image, np.zeros_like(mask), image, mask)
    with pytest.raises(stylize.DegenerateRegionError, match="real humans"):
        stylize.stylize(image, mask, image, np.zeros_like(mask))
    with pytest.raises(ValueError, match="uint8 RGB"):
        stylize.stylize(image.astype(np.float32), mask, image, mask)


class HalfResolution:
    """A toy FeatureSpace: 2x2 average pooling, decoded by repetition (exercises the non-pixel path)."""

    def encode(self, image):
        h, w, c = image.shape
        return image[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).mean(axis=(1, 3))

    def decode(self, features):
        return jnp.clip(jnp.repeat(jnp.repeat(features, 2, axis=0), 2, axis=1), 0.0, 1.0)


def test_feature_space_path_keeps_outside_and_moves_statistics():
    photo, real, content, synthetic = real_sample(4)
    out = stylize.stylize(
        content,
        synthetic,
        photo,
        real,
        stylize.StylizeConfig(max_side=160, smooth=False),
        feature_space=HalfResolution(),
    )
    np.testing.assert_array_equal(out[~synthetic], content[~synthetic])
    real_mean = photo[real].mean(0)
    assert np.linalg.norm(out[synthetic].mean(0) - real_mean) < 0.5 * np.linalg.norm(
        content[synthetic].mean(0) - real_mean
    )


def test_smoothing_window_by_hand():
    mask = np.zeros((100, 300), bool)
    mask[40:50, 200:210] = True
    rows, cols = stylize.smoothing_window(mask, margin=5, bucket=32)
    assert (rows, cols) == (slice(29, 61), slice(189, 221))  # 20 px box -> 32, centred
    rows, cols = stylize.smoothing_window(mask, margin=60, bucket=32)
    # rows: 0..110 clipped to the image's 100; columns: 140..270 (130 px) -> 160 px, centred on 205.
    assert (rows, cols) == (slice(0, 100), slice(125, 285))
    mask[:, :] = False
    mask[5, 295] = True
    assert stylize.smoothing_window(mask, margin=5, bucket=32) == (slice(0, 32), slice(268, 300))  # kept inside


def test_windowed_smoothing_matches_the_whole_image():
    photo, real, content, synthetic = real_sample(0)
    windowed = stylize.stylize(content, synthetic, photo, real, FAST)
    whole = stylize.stylize(content, synthetic, photo, real, dataclasses.replace(FAST, smooth_margin=None))
    difference = np.abs(windowed.astype(int) - whole)[synthetic]
    assert difference.mean() < 0.5 and np.percentile(difference, 99) <= 3
