"""Motion blur per person (ltsh_jax.synth.motion_blur): the box profile by hand, direction, composite order, zero
strength, and D_S / D_M images whose labels stay those of the sharp render. Stick people stand in for the body model;
renders are 128 x 128."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from data_builders.ltsh_synthetic import Builder
from data_builders.ltsh_synthetic import ltsh_synthetic_dataset_builder as synthetic_builder
from ltsh_jax.synth import mixed, motion_blur
from ltsh_jax.synth.generate import Synthesizer
from ltsh_jax.synth.scene import SceneConfig
from ltsh_jax.synth.stick_people import StickPeople
from tests.egl import renderer_or_skip, skip_without_egl

SIZE = 21
CENTRE = 10


def one_pixel(value: int = 200, background: np.ndarray | None = None):
    """A one-pixel person (instance 1) of grey `value` at the centre, on black or on `background`."""
    color = np.zeros((SIZE, SIZE, 3), np.uint8) if background is None else background.copy()
    color[CENTRE, CENTRE] = value
    instance = np.zeros((SIZE, SIZE), np.int32)
    instance[CENTRE, CENTRE] = 1
    depth = np.where(instance > 0, 5.0, np.inf).astype(np.float32)
    back = np.zeros_like(color) if background is None else background
    return color, instance, depth, back


def test_a_pixel_blurred_4_px_along_x_gives_the_box_profile_by_hand_and_keeps_its_intensity():
    color, instance, depth, back = one_pixel(200)
    out = motion_blur.blur_people(color, instance, depth, back, np.array([[4.0, 0.0]]))
    # Shifts t x 4 px, t uniform in [-1/2, 1/2], bilinear: the weights at offsets -2..2 are 1/8, 1/4, 1/4, 1/4, 1/8.
    expected = np.zeros((SIZE, SIZE), np.uint8)
    expected[CENTRE, CENTRE - 2 : CENTRE + 3] = [25, 50, 50, 50, 25]
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], expected)
    assert int(out[..., 0].sum()) == 200  # intensity conserved
    kernel = motion_blur.line_kernel((4.0, 0.0))
    np.testing.assert_allclose(kernel[2], [1 / 8, 1 / 4, 1 / 4, 1 / 4, 1 / 8], atol=1e-12)
    for motion in [(4.0, 0.0), (0.3, 0.0), (-5.0, 2.0), (3.0, 3.0), (0.01, -0.02), (17.5, -9.25)]:
        np.testing.assert_allclose(motion_blur.line_kernel(motion).sum(), 1.0, atol=1e-12)  # coverage conserved


def test_the_blur_follows_the_motion_vector():
    color, instance, depth, back = one_pixel(255)
    along_x = motion_blur.blur_people(color, instance, depth, back, np.array([[5.3, 0.0]]))
    rows, cols = np.nonzero(along_x[..., 0])
    assert set(rows) == {CENTRE} and cols.min() <= CENTRE - 2 and cols.max() >= CENTRE + 2  # no spread along y
    along_y = motion_blur.blur_people(color, instance, depth, back, np.array([[0.0, -3.0]]))
    rows, cols = np.nonzero(along_y[..., 0])
    assert set(cols) == {CENTRE} and rows.min() == CENTRE - 2 and rows.max() == CENTRE + 2  # no spread along x
    diagonal = motion_blur.blur_people(color, instance, depth, back, np.array([[6.0, 6.0]]))
    rows, cols = np.nonzero(diagonal[..., 0])
    assert np.abs(rows - cols).max() <= 1 and rows.max() - rows.min() >= 5  # along the diagonal only
    assert diagonal[CENTRE - 2, CENTRE + 2, 0] == 0 and diagonal[CENTRE + 2, CENTRE - 2, 0] == 0


def test_zero_motion_leaves_the_image_byte_identical_and_the_background_is_kept_where_no_blur_reaches():
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    color, instance, depth, back = one_pixel(255, background)
    assert motion_blur.blur_people(color, instance, depth, back, np.zeros((1, 2))) is color
    out = motion_blur.blur_people(color, instance, depth, back, np.array([[4.0, 0.0]]))
    reach = np.zeros((SIZE, SIZE), bool)
    reach[CENTRE, CENTRE - 2 : CENTRE + 3] = True
    np.testing.assert_array_equal(out[~reach], background[~reach])
    assert (out[reach] != color[reach]).any()
    motions = motion_blur.sample_image_motions(
        np.random.default_rng(1), *_camera_and_pelvis(), strength=(0.0, 0.0)
    )  # a zero factor: no blur whatever the invented velocities
    assert not motions.any()


def test_the_nearest_person_is_composited_last():
    color = np.zeros((SIZE, SIZE, 3), np.uint8)
    instance = np.zeros((SIZE, SIZE), np.int32)
    color[2:19, 2:19] = (0, 0, 255)  # person 1: far, blue, sharp
    instance[2:19, 2:19] = 1
    color[7:14, 7:14] = (255, 0, 0)  # person 2: near, red, in front of person 1
    instance[7:14, 7:14] = 2
    depth = np.where(instance == 2, 2.0, np.where(instance == 1, 9.0, np.inf)).astype(np.float32)
    out = motion_blur.blur_people(color, instance, depth, np.zeros_like(color), np.array([[0.0, 0.0], [2.0, 0.0]]))
    np.testing.assert_array_equal(out[7:14, 8:13], color[7:14, 8:13])  # the near person's inside: red, on top
    assert out[10, 14, 0] > 0 and out[10, 6, 0] > 0  # its blur spreads over the far person
    far_only = np.ones((SIZE, SIZE), bool)
    far_only[6:15, 5:16] = False
    np.testing.assert_array_equal(out[far_only], color[far_only])  # the far person, unblurred, untouched elsewhere


def _camera_and_pelvis():
    from ltsh_jax.synth.camera import Camera

    camera = Camera(focal=100.0, width=128, height=128, position=(0.0, 1.6, 0.0), pitch=10.0)
    return camera, np.array([[0.0, 0.95, -4.0], [1.0, 0.95, -6.0]])


def test_image_motions_project_a_ground_motion_and_grow_with_the_factor():
    camera, pelvis = _camera_and_pelvis()
    small = motion_blur.sample_image_motions(np.random.default_rng(3), camera, pelvis, (0.5, 0.0))
    large = motion_blur.sample_image_motions(np.random.default_rng(3), camera, pelvis, (1.0, 0.0))
    np.testing.assert_allclose(large, 2 * small, rtol=1e-9)  # same velocities (same stream), blur x factor
    # at most 2 m/s x 1/6 s = 0.33 m at the factor 1, 4 m away with a 100 px focal: under 100 x 0.34 / 3.6 px
    assert (np.hypot(*large.T) < 10).all() and (np.hypot(*large.T) > 0).all()
    clipped = motion_blur.sample_image_motions(np.random.default_rng(3), camera, pelvis, (-1e-9, 0.0))
    assert not clipped.any()  # a negative factor draw gives no blur (a negative mean is refused by the configs)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"blur_strength": (-0.01, 0.03)}, "blur_strength"),
        ({"blur_strength": (0.03, -0.03)}, "blur_strength"),
        ({"blur_strength": (0.03, float("nan"))}, "blur_strength"),
        ({"motion_blur": "gaussian"}, "motion_blur"),
    ],
)
def test_bad_blur_settings_are_errors_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"SceneConfig.{field}"):
        SceneConfig(**kwargs)
    with pytest.raises(ValueError, match=f"MixConfig.{field}"):
        mixed.MixConfig(**kwargs)
    reference = {c.name: c for c in Builder.BUILDER_CONFIGS}["reference"]
    with pytest.raises(ValueError, match=field):
        synthetic_builder.make_synthesizer(dataclasses.replace(reference, name="bad", **kwargs))


def test_only_paper_and_reference_blur():
    configs = {c.name: c for c in Builder.BUILDER_CONFIGS}
    assert {name for name, c in configs.items() if c.motion_blur != "none"} == {"paper", "reference"}
    assert tuple(configs["reference"].blur_strength) == (0.03, 0.03)  # the generator's N(0.03, 0.03)
    assert SceneConfig().motion_blur == "none" and mixed.MixConfig().motion_blur == "vector"


def _distance_to_people(instance: np.ndarray) -> np.ndarray:
    return ndimage.distance_transform_edt(instance == 0)


def test_d_s_blur_changes_pixels_near_people_only_and_keeps_the_sharp_labels(monkeypatch):
    renderer = renderer_or_skip(128, 128)
    base = SceneConfig(width=128, height=128, lam=3.0)
    try:
        sharp_synth = Synthesizer(base, people=StickPeople(), renderer=renderer)
        calls = []
        monkeypatch.setattr(motion_blur, "sample_image_motions", lambda *a: calls.append(a))
        sharp = sharp_synth.generate(7)
        assert not calls and sharp.blur is None and "blurring" not in sharp_synth.timings  # blur off: no draw
        monkeypatch.undo()
        blurred_synth = Synthesizer(
            dataclasses.replace(base, motion_blur="vector", blur_strength=(1.0, 0.0)),
            people=StickPeople(),
            renderer=renderer,
        )
        blurred = blurred_synth.generate(7)
        zero = Synthesizer(
            dataclasses.replace(base, motion_blur="vector", blur_strength=(0.0, 0.0)),
            people=StickPeople(),
            renderer=renderer,
        ).generate(7)
    finally:
        renderer.release()
    np.testing.assert_array_equal(zero.frame.color, sharp.frame.color)  # zero strength: byte-identical
    assert not zero.blur.any()
    assert blurred_synth.timings["blurring"] > 0  # its own stage (benchmarks/synthesis.py)
    for name in ("keypoints", "head_box", "objpos", "scale"):
        np.testing.assert_array_equal(getattr(blurred.labels, name), getattr(sharp.labels, name))
    np.testing.assert_array_equal(blurred.frame.instance, sharp.frame.instance)
    np.testing.assert_array_equal(blurred.frame.depth, sharp.frame.depth)
    assert blurred.blur.shape == (len(sharp.placement.kept), 2) and (np.hypot(*blurred.blur.T) > 0.5).any()
    changed = (blurred.frame.color != sharp.frame.color).any(-1)
    assert changed.any()
    reach = np.hypot(*blurred.blur.T).max() / 2 + 1.5
    assert (_distance_to_people(sharp.frame.instance)[changed] <= reach).all()  # only within a blur of a person


def test_d_m_blurs_the_synthetic_humans_not_the_photo_and_keeps_the_labels():
    skip_without_egl()
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    keypoints = np.zeros((1, 16, 3))
    objpos, scale = np.array([[64.0, 64.0]]), np.array([0.3])
    sharp_mixer = mixed.Mixer(mixed.MixConfig(motion_blur="none"), people=StickPeople())
    try:
        sharp = sharp_mixer.mix(photo, keypoints, objpos, scale, seed=3)
        blurred_mixer = mixed.Mixer(
            mixed.MixConfig(blur_strength=(1.0, 0.0)), people=StickPeople(), context=sharp_mixer._context
        )
        blurred = blurred_mixer.mix(photo, keypoints, objpos, scale, seed=3)
    finally:
        sharp_mixer.release()
    assert blurred_mixer.timings["blurring"] > 0 and "blurring" not in sharp_mixer.timings  # timed on its own
    for name in ("keypoints", "head_box", "objpos", "scale"):
        np.testing.assert_array_equal(getattr(blurred.labels, name), getattr(sharp.labels, name))
    np.testing.assert_array_equal(blurred.frame.instance, sharp.frame.instance)
    np.testing.assert_array_equal(blurred.covered, sharp.covered)
    changed = (blurred.frame.color != sharp.frame.color).any(-1)
    assert changed.any()
    reach = np.hypot(*blurred.blur.T).max() / 2 + 1.5
    far = _distance_to_people(sharp.frame.instance) > reach
    np.testing.assert_array_equal(blurred.frame.color[far], photo[far])  # the photo itself is never blurred
