"""Multi-scale + flip map prediction: the flip is undone exactly (channels, PAF signs, mirror), scales and averaging."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltsh_jax.decode.assemble import decode
from ltsh_jax.decode.maps import flip_paf_permutation, grid_stride, predict_maps, scaled_sizes, unflip_channels
from ltsh_jax.models.openpose import StageOutput
from ltsh_jax.people import People
from ltsh_jax.skeleton import CMU_MPI, COCO17
from ltsh_jax.train.targets import build_targets

SK = CMU_MPI
# An asymmetric person (the right arm raised, the left leg bent), MPII layout, in a 368 x 400 image.
PERSON = np.array(
    [[190, 60], [192, 95], [160, 110], [120, 80], [100, 40], [222, 112], [240, 160], [236, 205], [172, 200],
     [170, 260], [168, 320], [210, 200], [250, 250], [232, 310], [191, 150]], np.float32,
)  # fmt: skip


_build = jax.jit(build_targets, static_argnames=("skeleton", "input_size"))


def _targets(keypoints: np.ndarray, size: tuple[int, int], labelled: np.ndarray | None = None):
    """Heatmaps and PAFs [h, w, C] of one person (fully labelled unless `labelled` [J]) in an input of `size`."""
    labelled = np.ones(SK.num_parts, bool) if labelled is None else labelled
    people = People(keypoints[None, None], labelled[None, None], np.ones((1, 1), bool), np.zeros((1, 1), bool))
    t = _build(people, None, skeleton=SK, input_size=size)
    return t.heatmaps[0], t.pafs[0]


def _mirror(keypoints: np.ndarray, width: float) -> np.ndarray:
    """The person as seen in the mirrored image: x -> width - 1 - x, left/right labels swapped."""
    out = keypoints[SK.flip_permutation].copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out


def test_limb_permutation_cmu_mirrors_arms_and_legs():
    perm, signs = flip_paf_permutation(CMU_MPI)
    limbs = CMU_MPI.limbs
    assert limbs[perm[limbs.index((1, 2))]] == (1, 5)  # neck -> r-shoulder <-> neck -> l-shoulder
    assert limbs[perm[limbs.index((9, 10))]] == (12, 13)  # r-knee -> r-ankle <-> l-knee -> l-ankle
    assert perm[limbs.index((0, 1))] == limbs.index((0, 1))  # head -> neck is its own mirror
    assert (perm[perm] == np.arange(len(limbs))).all()
    np.testing.assert_array_equal(signs, np.tile([-1.0, 1.0], (len(limbs), 1)))


def test_limb_permutation_coco_reversed_limbs_flip_both_signs():
    perm, signs = flip_paf_permutation(COCO17)
    hips = COCO17.limbs.index((11, 12))  # l-hip -> r-hip mirrors onto itself, reversed
    assert perm[hips] == hips and tuple(signs[hips]) == (1.0, -1.0)
    ankle = COCO17.limbs.index((15, 13))
    assert COCO17.limbs[perm[ankle]] == (16, 14) and tuple(signs[ankle]) == (-1.0, 1.0)


def test_unflipped_maps_of_mirrored_person_equal_original_maps():
    size = (368, 400)
    heat, paf = _targets(PERSON, size)
    heat_m, paf_m = _targets(_mirror(PERSON, size[1]), size)
    back_h, back_p = unflip_channels(jnp.flip(heat_m, axis=-2), jnp.flip(paf_m, axis=-2), skeleton=SK)
    np.testing.assert_allclose(back_h, heat, atol=1e-5)
    np.testing.assert_allclose(back_p, paf, atol=1e-5)
    assert np.abs(np.asarray(heat_m) - np.asarray(heat)).max() > 0.5  # the person is not symmetric


def _oracle(image: np.ndarray, keypoints: np.ndarray, scales, shapes_seen: list, base_size: int = 368, labelled=None):
    """A 'perfect network': for each input it returns the targets of the person in it (mirrored or not).

    It recognises the mirrored input by comparing it with the mirrored resized image, so it does not
    depend on how predict_maps orders its batch.
    """
    height, width = image.shape[:2]
    table = {}
    for scale in scales:
        (hs, ws), (hp, wp) = scaled_sizes((height, width), scale, base_size=base_size, stride=8)
        f = np.array([ws / width, hs / height], np.float32)
        scaled = (keypoints + 0.5) * f - 0.5
        x = jax.image.resize(jnp.asarray(image, jnp.float32), (hs, ws, 3), "linear", antialias=False) / 256 - 0.5
        pad = ((0, hp - hs), (0, wp - ws), (0, 0))
        refs = jnp.stack([jnp.pad(x, pad), jnp.pad(x[:, ::-1], pad)])
        mirrored_labelled = None if labelled is None else labelled[SK.flip_permutation]
        plain = _targets(scaled, (hp, wp), labelled)
        mirrored = _targets(_mirror(scaled, ws), (hp, wp), mirrored_labelled)
        table[(hp, wp)] = refs, plain, mirrored

    def apply_fn(params, images):
        shapes_seen.append(tuple(images.shape))
        refs, plain, mirrored = table[images.shape[1:3]]
        dist = jnp.abs(images[:, None] - refs[None]).mean(axis=(2, 3, 4))  # [B, 2]
        is_mirror = (dist[:, 1] < dist[:, 0])[:, None, None, None]
        heat = jnp.where(is_mirror, mirrored[0][None], plain[0][None])
        paf = jnp.where(is_mirror, mirrored[1][None], plain[1][None])
        return (StageOutput(paf * 0.5, heat * 0.5), StageOutput(paf, heat))

    return apply_fn


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, size=(368, 400, 3), dtype=np.uint8)


def test_flip_average_equals_unflipped_maps_at_scale_one(image):
    seen = []
    apply_fn = _oracle(image, PERSON, (1.0,), seen)
    heat, paf, _ = predict_maps(apply_fn, None, image, skeleton=SK, scales=(1.0,), flip=True)
    plain_heat, plain_paf = _targets(PERSON, (368, 400))
    np.testing.assert_allclose(heat, plain_heat, atol=1e-5)
    np.testing.assert_allclose(paf, plain_paf, atol=1e-5)
    assert seen[-1] == (2, 368, 400, 3)  # image and mirror in one batch


def test_flip_of_odd_width_is_mirrored_about_the_scaled_image(image):
    odd = image[:, :397]
    seen = []
    apply_fn = _oracle(odd, PERSON, (1.0,), seen)
    flipped, _, _ = predict_maps(apply_fn, None, odd, skeleton=SK, scales=(1.0,), flip=True)
    plain, _, _ = predict_maps(apply_fn, None, odd, skeleton=SK, scales=(1.0,), flip=False)
    assert flipped.shape == (46, 50, SK.num_heatmaps)
    # the mirror's cells fall between the image's cells (397 is no multiple of 8): close, not equal
    assert np.abs(np.asarray(flipped) - np.asarray(plain))[..., :-1].max() < 0.06
    ys, xs = np.unravel_index(np.asarray(flipped)[..., 4].argmax(), flipped.shape[:2])  # r-wrist at (100, 40)
    assert (abs(xs * 8 + 3.5 - 100) <= 4) and (abs(ys * 8 + 3.5 - 40) <= 4)


def test_scales_resize_pad_and_return_the_original_grid():
    image = np.zeros((200, 300, 3), np.uint8)
    seen = []

    def apply_fn(params, images):
        seen.append(tuple(images.shape))
        b, hp, wp, _ = images.shape
        ones = jnp.ones((b, hp // 8, wp // 8, 1), jnp.float32)
        return (StageOutput(ones * jnp.arange(SK.num_pafs), ones * jnp.arange(SK.num_heatmaps) + hp),)

    heat, paf, stride = predict_maps(apply_fn, None, image, skeleton=SK, scales=(0.5, 1.0), flip=False)
    # height 0.5 * 368 = 184 (width 276 -> padded 280); 368 (width 552)
    assert sorted(seen) == [(1, 184, 280, 3), (1, 368, 552, 3)]
    # scale 1 enlarges 1.84x: the network's cells are 8 / 1.84 = 4.3 original pixels apart -> a 4-pixel grid
    assert stride == 4
    assert heat.shape == (50, 75, SK.num_heatmaps) and paf.shape == (50, 75, SK.num_pafs)
    # constant maps survive resampling; the result is the mean over scales
    np.testing.assert_allclose(heat, np.broadcast_to(np.arange(16) + (184 + 368) / 2, heat.shape), atol=1e-4)


def test_flip_averages_swapped_channels_and_negated_x():
    image = np.zeros((64, 64, 3), np.uint8)

    def apply_fn(params, images):  # the same constant maps for the image and its mirror
        b, hp, wp, _ = images.shape
        ones = jnp.ones((b, hp // 8, wp // 8, 1), jnp.float32)
        return (StageOutput(ones * (1.0 + jnp.arange(SK.num_pafs)), ones * jnp.arange(SK.num_heatmaps)),)

    heat, paf, _ = predict_maps(apply_fn, None, image, skeleton=SK, scales=(1.0,), flip=True)
    hperm = np.append(SK.flip_permutation, SK.num_parts)
    np.testing.assert_allclose(heat[0, 0], (np.arange(16) + hperm) / 2, atol=1e-4)
    perm, signs = flip_paf_permutation(SK)
    value = (1.0 + np.arange(SK.num_pafs)).reshape(-1, 2)
    want = (value + signs * value[perm]) / 2
    np.testing.assert_allclose(paf[0, 0], want.reshape(-1), atol=1e-4)
    assert np.abs(want[:, 0]).max() < np.abs(want[:, 1]).max()  # x mostly cancels: negated


@pytest.mark.parametrize(
    ("height", "scales", "base_size", "expected"),
    [
        (720, (0.7, 1.0, 1.3), 368, 8),  # every scale shrinks: the network's own stride
        (368, (1.0,), 368, 8),  # no enlargement
        (368, (0.7, 1.0, 1.3), 368, 6),  # 1.3x: cells 6.15 px apart
        (128, (1.0,), 328, 3),  # the demo's 128 px images at people size: 2.56x -> 3.1 px
        (92, (1.0,), 368, 2),  # 4x -> exactly 2
        (10, (1.0,), 368, 1),  # 36.8x: never below one pixel
    ],
)
def test_grid_stride_is_the_network_stride_over_the_largest_enlargement(height, scales, base_size, expected):
    assert grid_stride((height, 2 * height), scales, base_size=base_size, stride=8) == expected


def test_enlarged_small_image_decodes_at_the_network_resolution():
    """A 92 x 100 image shown to the network 4x enlarged: a perfect network's person comes back within 0.5 px.

    On the network's own stride-8 grid of the original image (one cell = 2.5 network cells) the joints
    land up to several pixels off; the 2-pixel decoding grid keeps the network's resolution.
    """
    small = np.random.default_rng(1).integers(0, 256, size=(92, 100, 3), dtype=np.uint8)
    person = (PERSON + 0.5) / 4 - 0.5  # the asymmetric person, a quarter of its size (about 70 px tall)
    apply_fn = _oracle(small, person, (1.0,), [], base_size=368)
    heat, paf, stride = predict_maps(apply_fn, None, small, skeleton=SK, scales=(1.0,), flip=True, base_size=368)
    assert stride == 2 and heat.shape == (46, 50, SK.num_heatmaps)
    people = decode(heat, paf, skeleton=SK, input_size=small.shape[:2], stride=stride)
    assert len(people) == 1 and (people.part_scores[0] > 0).all()
    np.testing.assert_allclose(people.parts[0], person, atol=0.5)
