"""Tests of PhotoWCT's VGG encoder/decoder feature space (ltsh_jax/synth/vgg_features.py) and its use by stylize.

The weights files are written by the tests: random ones, and "identity-like" ones whose decoders invert their
encoder exactly (orthogonal 3x3 maps carried as ReLU pairs [y]+, [-y]+; after each unpooling a 2x2 kernel
that spreads a window's top-left value over the window), so the transfer's results can be predicted.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from data_builders.ltsh_stylized.ltsh_stylized_dataset_builder import resolve_vgg_weights
from ltsh_jax.synth import stylize, vgg_features
from ltsh_jax.synth.vgg_features import VggFeatureSpace
from tests.paths import REAL_MPII
from tests.synth.test_stylize import real_sample

TINY = (8, 8, 8, 8)  # block widths of the test networks (the real ones are 64, 128, 256, 512)
NO_SMOOTH = stylize.StylizeConfig(smooth=False, min_region_pixels=4)
SPREAD_AFTER_UNPOOL = ("conv3_4", "conv2_2", "conv1_2")


def pair(p: np.ndarray) -> np.ndarray:
    """6x6 HWIO centre tap taking channels (a, b) = ([y]+, [-y]+) to (P (a - b), -P (a - b))."""
    return np.block([[p.T, -p.T], [-p.T, p.T]]).astype(np.float32)


def identity_like(level: int, widths=TINY, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights (cascade from `level`) whose decoder L inverts the encoder up to relu{L}_1 exactly on images that
    are constant on 2^(L-1)-pixel blocks (so that every max-pool switch is its window's top-left pixel)."""
    rng = np.random.default_rng(seed)
    arrays = {name: np.zeros(shape, np.float32) for name, shape in VggFeatureSpace.shapes(level, True, widths).items()}

    def orthogonal() -> np.ndarray:
        return np.linalg.qr(rng.normal(size=(3, 3)))[0]

    chain = orthogonal()
    arrays["encoder/conv0/kernel"][0, 0] = chain.T  # y0 = Q0 x
    encoder_map = {}
    for op in vgg_features.encoder_layers(level)[1:]:
        if op == "pool":
            continue
        p = orthogonal()
        kernel = arrays[f"encoder/{op}/kernel"]
        if op == "conv1_1":
            kernel[1, 1, :3, :3], kernel[1, 1, :3, 3:6] = p.T, -p.T
        else:
            kernel[1, 1, :6, :6] = pair(p)
        chain = p @ chain
        if op.endswith("_1"):
            encoder_map[int(op[4])] = chain  # relu{L}_1 = ([M x]+, [-M x]+)
    for decoder in range(1, level + 1):
        for op in vgg_features.decoder_layers(decoder):
            if op == "unpool":
                continue
            kernel = arrays[f"decoder{decoder}/{op}/kernel"]
            if op == "conv1_1":
                inverse = encoder_map[decoder].T
                kernel[1, 1, :3], kernel[1, 1, 3:6] = inverse.T, -inverse.T
            elif op in SPREAD_AFTER_UNPOOL:
                kernel[:2, :2, :6, :6] = pair(np.eye(3))
            else:
                kernel[1, 1, :6, :6] = pair(np.eye(3))
    return arrays


def write(tmp_path: pathlib.Path, arrays: dict, name: str = "weights.npz") -> pathlib.Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def block_image(rng: np.random.Generator, height: int, width: int, block: int) -> np.ndarray:
    """uint8 RGB image constant on block x block tiles."""
    tiles = rng.integers(20, 236, (height // block, width // block, 3), dtype=np.uint8)
    return np.repeat(np.repeat(tiles, block, axis=0), block, axis=1)


def test_unpooling_puts_each_maximum_back_where_it_was():
    x = np.array([[1, 5, 2, 0, 9], [3, 4, 7, 7, 1], [0, 2, 6, 1, 3], [8, 1, 0, 0, 2]], np.float32)
    stacked = jnp.asarray(np.stack([x, -x], axis=-1))  # channels pool independently
    pooled, switches = vgg_features.max_pool_with_switches(stacked)
    # Windows (2x2, the odd last column dropped): maxima 5 at (0,1), 7 first at (1,2), 8 at (3,0), 6 at (2,2).
    np.testing.assert_array_equal(np.asarray(pooled[..., 0]), [[5, 7], [8, 6]])
    np.testing.assert_array_equal(np.asarray(pooled[..., 1]), [[-1, 0], [0, 0]])  # -x: -1 at (0,0), 0 at (0,3) ...
    want = np.zeros((4, 5), bool)
    want[0, 1] = want[1, 2] = want[3, 0] = want[2, 2] = True
    np.testing.assert_array_equal(np.asarray(switches[..., 0]), want)
    np.testing.assert_array_equal(np.asarray(vgg_features.unpool(pooled, switches)[..., 0]), np.where(want, x, 0))
    other = jnp.asarray(np.array([[10, 20], [30, 40]], np.float32)[..., None].repeat(2, -1))
    unpooled = np.asarray(vgg_features.unpool(other, switches))
    assert unpooled.shape == (4, 5, 2)
    assert (unpooled[0, 1, 0], unpooled[1, 2, 0], unpooled[3, 0, 0], unpooled[2, 2, 0]) == (10, 20, 30, 40)
    assert np.count_nonzero(unpooled[..., 0]) == 4
    # -x: window (0,0) = [-1, -5, -3, -4] -> -1 at (0,0); window (1,1) = [-6, -1, 0, 0] -> 0 first at (3,2).
    assert unpooled[0, 0, 1] == 10 and unpooled[3, 2, 1] == 40 and np.count_nonzero(unpooled[..., 1]) == 4


def test_identity_like_weights_decode_their_encoding():
    rng = np.random.default_rng(0)
    space = VggFeatureSpace(params=vgg_features.nest(identity_like(4)), level=4)
    image = jnp.asarray(block_image(rng, 32, 48, 8) / 255.0, jnp.float32)
    for level in (1, 2, 3, 4):
        features, switches = space.encode(image, level)
        assert features[-1].shape == (32 >> (level - 1), 48 >> (level - 1), 8) and len(switches) == level - 1
        np.testing.assert_allclose(np.asarray(space.decode(features[-1], switches, level)), image, atol=1e-5)
    free = jnp.asarray(rng.uniform(size=(7, 9, 3)), jnp.float32)  # no pooling at level 1: any image
    np.testing.assert_allclose(np.asarray(space.decode(space.encode(free, 1)[0][0], (), 1)), free, atol=1e-5)


@pytest.mark.parametrize(("level", "cascade"), [(4, True), (4, False), (2, True)])
def test_transfer_onto_itself_is_the_identity_and_toward_a_style_moves_the_mean(tmp_path, level, cascade):
    rng = np.random.default_rng(level)
    path = write(tmp_path, identity_like(level))
    space = VggFeatureSpace.from_file(path, level=level, cascade=cascade, widths=TINY, wct_eps=1e-3)
    content = block_image(rng, 32, 48, 8)
    mask = np.zeros((32, 48), bool)
    mask[8:24, 16:40] = True
    same = stylize.stylize(content, mask, content, mask, NO_SMOOTH, feature_space=space)
    assert np.abs(same.astype(int) - content).max() <= 1  # within 1/255

    # Block-constant too, so that max-pooling keeps the style region's mean at every level.
    style = block_image(rng, 40, 40, 8)
    reddish = np.clip(rng.normal([200, 60, 90], 15, (3, 3, 3)), 0, 255).astype(np.uint8)
    style[:24, :24] = np.repeat(np.repeat(reddish, 8, axis=0), 8, axis=1)
    style_mask = np.zeros((40, 40), bool)
    style_mask[:24, :24] = True
    out = stylize.stylize(content, mask, style, style_mask, NO_SMOOTH, feature_space=space)
    target = style[style_mask].mean(0)
    before = np.linalg.norm(content[mask].mean(0) - target)
    assert np.linalg.norm(out[mask].mean(0) - target) < 0.25 * before
    np.testing.assert_array_equal(out[~mask], content[~mask])


@pytest.mark.parametrize("index", [0, 3])
def test_real_sample_in_vgg_space_moves_the_synthetic_person_toward_the_real_people(index):
    """The cascade with identity-like weights on a real MPII photo (masks from keypoints, not block-aligned)."""
    photo, real, content, synthetic = real_sample(index)
    space = VggFeatureSpace(params=vgg_features.nest(identity_like(4)), level=4, wct_eps=1e-3)
    out = stylize.stylize(content, synthetic, photo, real, stylize.StylizeConfig(max_side=160), feature_space=space)
    np.testing.assert_array_equal(out[~synthetic], content[~synthetic])
    real_mean = photo[real].mean(0)
    before = np.linalg.norm(content[synthetic].mean(0) - real_mean)
    assert np.linalg.norm(out[synthetic].mean(0) - real_mean) < 0.3 * before


def test_pixels_outside_the_content_mask_are_bit_identical(tmp_path):
    shapes = VggFeatureSpace.shapes(2, True, TINY)
    space = VggFeatureSpace.from_file(write(tmp_path, vgg_features.random_weights(shapes, 1)), level=2, widths=TINY)
    rng = np.random.default_rng(2)
    content = rng.integers(0, 256, (45, 37, 3), dtype=np.uint8)  # odd sizes: pools drop a row and a column
    style = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    mask = np.zeros((45, 37), bool)
    mask[5:35, 4:30] = True
    style_mask = np.zeros((30, 50), bool)
    style_mask[2:28, 10:45] = True
    config = stylize.StylizeConfig(max_side=40, min_region_pixels=4, cg_maxiter=10)  # resized, smoothed
    out = stylize.stylize(content, mask, style, style_mask, config, feature_space=space)
    assert out.shape == content.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~mask], content[~mask])
    assert not np.array_equal(out[mask], content[mask])


def test_a_region_too_small_at_a_level_skips_it_and_at_every_level_is_degenerate():
    params = vgg_features.nest(identity_like(4))
    rng = np.random.default_rng(5)
    image = block_image(rng, 32, 48, 8)
    style = np.full((32, 48, 3), 40, np.uint8)
    mask = np.zeros((32, 48), bool)
    mask[4:12, 4:12] = True  # 64 pixels: none of the 4x6 relu4_1 grid (8-px cells), 4 of the 8x12 relu3_1 grid
    with pytest.raises(stylize.DegenerateRegionError, match=r"synthetic humans .* 4x6"):
        single = VggFeatureSpace(params=params, level=4, cascade=False)
        stylize.stylize(image, mask, style, np.ones((32, 48), bool), NO_SMOOTH, feature_space=single)
    cascade = VggFeatureSpace(params=params, level=4, cascade=True, wct_eps=1e-6)  # skips relu4_1 only
    out = stylize.stylize(image, mask, style, np.ones((32, 48), bool), NO_SMOOTH, feature_space=cascade)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert np.abs(out[mask].astype(int) - 40).max() <= 1  # a flat style: the region takes its colour
    tiny = np.zeros((32, 48), bool)
    tiny[0, :3] = True  # 3 pixels: fewer than 4 at every level
    with pytest.raises(stylize.DegenerateRegionError, match=r"synthetic humans .* 32x48"):
        stylize.stylize(image, tiny, style, np.ones((32, 48), bool), NO_SMOOTH, feature_space=cascade)


def test_bad_weight_files_name_the_file_and_the_array(tmp_path):
    good = identity_like(2)
    name = "decoder2/conv2_1/kernel"
    missing = dict(good)
    del missing[name]
    with pytest.raises(ValueError, match=rf"missing\.npz: missing array '{name}' \(expected shape \(3, 3, 8, 8\)\)"):
        VggFeatureSpace.from_file(write(tmp_path, missing, "missing.npz"), level=2, widths=TINY)
    wrong = dict(good, **{"encoder/conv1_1/kernel": np.zeros((3, 3, 3, 9), np.float32)})
    with pytest.raises(
        ValueError,
        match=r"wrong\.npz: array 'encoder/conv1_1/kernel' has shape \(3, 3, 3, 9\), "
        r"expected \(3, 3, 3, 8\)",
    ):
        VggFeatureSpace.from_file(write(tmp_path, wrong, "wrong.npz"), level=2, widths=TINY)
    pickled = dict(good, **{"encoder/conv0/bias": np.array([{"code": 1}, None, 2], dtype=object)})
    with pytest.raises(ValueError, match=r"pickled\.npz: array 'encoder/conv0/bias' is an object \(pickled\) array"):
        VggFeatureSpace.from_file(write(tmp_path, pickled, "pickled.npz"), level=2, widths=TINY)
    integers = dict(good, **{"encoder/conv0/bias": np.zeros(3, np.int64)})
    with pytest.raises(ValueError, match=r"ints\.npz: array 'encoder/conv0/bias' has dtype int64"):
        VggFeatureSpace.from_file(write(tmp_path, integers, "ints.npz"), level=2, widths=TINY)
    nan = dict(good, **{"decoder1/conv1_1/bias": np.full(3, np.nan, np.float32)})
    with pytest.raises(ValueError, match=r"nan\.npz: array 'decoder1/conv1_1/bias' has NaN"):
        VggFeatureSpace.from_file(write(tmp_path, nan, "nan.npz"), level=2, widths=TINY)
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        VggFeatureSpace.from_file(tmp_path / "absent.npz")
    (tmp_path / "model.pth").write_bytes(b"\x80\x04K\x01.")  # a pickle, not an npz
    with pytest.raises(ValueError, match=r"model\.pth: not a readable \.npz"):
        VggFeatureSpace.from_file(tmp_path / "model.pth", level=2, widths=TINY)
    # Only what the configuration uses is needed: level 2 without the cascade needs no decoder1.
    single = {k: v for k, v in good.items() if not k.startswith("decoder1/")}
    VggFeatureSpace.from_file(write(tmp_path, single, "single.npz"), level=2, cascade=False, widths=TINY)


def test_expected_layout_at_the_real_widths():
    shapes = VggFeatureSpace.shapes(4, cascade=True)
    assert shapes["encoder/conv0/kernel"] == (1, 1, 3, 3)
    assert shapes["encoder/conv3_1/kernel"] == (3, 3, 128, 256) and shapes["encoder/conv4_1/bias"] == (512,)
    assert shapes["decoder4/conv4_1/kernel"] == (3, 3, 512, 256) and shapes["decoder4/conv4_1/bias"] == (256,)
    assert shapes["decoder2/conv1_1/kernel"] == (3, 3, 64, 3) and "decoder2/conv3_1/kernel" not in shapes
    # 10 encoder convs, decoders of 9, 5, 3 and 1 convs; a kernel and a bias each.
    assert len(shapes) == 2 * (10 + 9 + 5 + 3 + 1)
    assert len(VggFeatureSpace.shapes(3, cascade=False)) == 2 * (6 + 5)


def test_random_weights_at_the_real_widths_run_end_to_end():
    shapes = VggFeatureSpace.shapes(4, cascade=False)  # the cascade at these widths: benchmarks/mixed.py
    params = vgg_features.nest(vgg_features.random_weights(shapes, 3))
    space = VggFeatureSpace(params=params, level=4, cascade=False)
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    features, switches = space.encode(jnp.asarray(image / 255.0, jnp.float32))
    assert [f.shape for f in features] == [(64, 64, 64), (32, 32, 128), (16, 16, 256), (8, 8, 512)]
    assert [s.shape for s in switches] == [(64, 64, 64), (32, 32, 128), (16, 16, 256)]
    assert all(np.isfinite(np.asarray(f)).all() for f in features)
    decoded = space.decode(features[-1], switches)
    assert decoded.shape == (64, 64, 3) and np.isfinite(np.asarray(decoded)).all()
    mask = np.zeros((64, 64), bool)
    mask[16:48, 8:40] = True
    out = stylize.stylize(image, mask, image[::-1], mask, NO_SMOOTH, feature_space=space)  # smoothing: test above
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~mask], image[~mask])


def test_builder_finds_the_weights_in_manual_dir_or_names_every_place_tried(tmp_path, monkeypatch):
    manual = tmp_path / "mpii"
    manual.mkdir()
    (manual / "photo_wct.npz").write_bytes(b"")
    assert resolve_vgg_weights("photo_wct.npz", manual) == manual / "photo_wct.npz"
    assert resolve_vgg_weights(str(manual / "photo_wct.npz"), None) == manual / "photo_wct.npz"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.npz").write_bytes(b"")
    assert resolve_vgg_weights("here.npz", manual) == pathlib.Path("here.npz")
    with pytest.raises(
        FileNotFoundError,
        match=r"'gone\.npz' \(config field vgg_weights\) not found; looked at "
        r".*mpii/gone\.npz, gone\.npz",
    ):
        resolve_vgg_weights("gone.npz", manual)


def test_stylized_builder_with_vgg_weights(tmp_path, monkeypatch):
    """ltsh_stylized with vgg_weights (random weights, real widths) on one real MPII photo, stick people."""
    from data_builders.build import build  # noqa: PLC0415
    from data_builders.ltsh_stylized import LtshStylizedConfig  # noqa: PLC0415
    from ltsh_jax.synth import generate  # noqa: PLC0415
    from ltsh_jax.synth.stick_people import StickPeople  # noqa: PLC0415
    from tests.egl import skip_without_egl  # noqa: PLC0415

    skip_without_egl()
    monkeypatch.setattr(generate, "BodyModelPeople", StickPeople)
    real = REAL_MPII
    weights = write(tmp_path, vgg_features.random_weights(VggFeatureSpace.shapes(2, True), 5), "vgg.npz")
    base = LtshStylizedConfig(name="vgg", num_renders=1, max_images=1, max_side=160)
    config = dataclasses.replace(base, vgg_weights=str(weights), vgg_level=2)
    builder = build("ltsh_stylized", data_dir=tmp_path / "data", manual_dir=real, config=config)
    assert len(builder.as_data_source(split="train")) == 1
    absent = dataclasses.replace(base, name="absent", vgg_weights="absent.npz")
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        build("ltsh_stylized", data_dir=tmp_path / "data2", manual_dir=real, config=absent)
