"""Spherical-harmonics lighting: hand-computed irradiance, no negative radiance, the generator's draw, the shader."""

from __future__ import annotations

import numpy as np
import pytest

from ltsh_jax.synth import sh_lighting as sh
from ltsh_jax.synth.camera import Camera
from ltsh_jax.synth.render import Mesh
from tests.egl import renderer_or_skip

SIZE = 48
C2, C4 = 0.511664, 0.886227  # Ramamoorthi & Hanrahan's constants, typed here by hand


def _unit_normals(count: int, seed: int = 0) -> np.ndarray:
    n = np.random.default_rng(seed).normal(size=(count, 3))
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def coefficients(**named: float) -> np.ndarray:
    out = np.zeros(9)
    for name, value in named.items():
        out[sh.NAMES.index(name)] = value
    return out


def test_constant_term_alone_shades_every_normal_alike():
    e = sh.irradiance(coefficients(L00=1.0), _unit_normals(500))
    np.testing.assert_allclose(e, C4, rtol=1e-12)


def test_a_first_order_term_gives_the_cosine_lobe():
    # L11 multiplies the generator's x, our +z (towards the camera): E = C4 L00 + 2 C2 L11 cos(angle to +z)
    c = coefficients(L00=0.5, L11=0.3)
    angles = np.radians([0.0, 60.0, 120.0, 180.0])
    normals = np.stack([np.sin(angles), np.zeros(4), np.cos(angles)], -1)
    np.testing.assert_allclose(sh.irradiance(c, normals)[:, 0], C4 * 0.5 + 2 * C2 * 0.3 * np.cos(angles), rtol=1e-12)
    # L1m1 multiplies the generator's y, which points down: negative L1m1 lights from above
    c = coefficients(L00=1.0, L1m1=-0.4)
    up, down = sh.irradiance(c, np.array([[0, 1.0, 0], [0, -1.0, 0]]))[:, 0]
    assert up == pytest.approx(C4 + 2 * C2 * 0.4) and down == pytest.approx(C4 - 2 * C2 * 0.4)


def test_minimum_irradiance_matches_dense_sampling():
    rng = np.random.default_rng(1)
    normals = _unit_normals(100_000, seed=2)
    for _ in range(10):
        c = rng.uniform(-0.7, 0.7, (3, 9))
        dense = sh.irradiance(c, normals).min(axis=0)
        lowest = sh.min_irradiance(c)
        assert (lowest <= dense + 1e-7).all() and (dense - lowest < 2e-3).all()


def test_coefficients_with_negative_irradiance_are_refused_naming_the_fix():
    with pytest.raises(ValueError, match="negative irradiance .* raise L00"):
        sh.SHLighting(coefficients(L00=0.2, L10=0.5))  # E = 0.177 - 0.512 on the -x side
    with pytest.raises(ValueError, match=r"\[9\] or \[3, 9\]"):
        sh.SHLighting(np.zeros(8))
    assert sh.SHLighting(coefficients(L00=1.0, L10=0.5)).coefficients[2][0] == 1.0


def test_sampled_lighting_is_the_generators_draw_made_nonnegative():
    raised = 0
    normals = _unit_normals(50_000, seed=3)
    for seed in range(40):
        lighting = np.asarray(sh.sample_sh_lighting(np.random.default_rng(seed)).coefficients)
        replay = np.random.default_rng(seed)
        raw = 0.7 * (2 * replay.random(9) - 1)
        raw[0], raw[1] = 0.5 + 0.9 * replay.random(), -0.7 * replay.random()
        assert (lighting == lighting[0]).all()  # grey, as the generator's
        np.testing.assert_array_equal(lighting[0, 1:], raw[1:])  # the eight directional terms untouched
        assert lighting[0, 0] >= raw[0]
        raised += lighting[0, 0] > raw[0]
        assert sh.irradiance(lighting, normals).min() >= -1e-6
    assert 5 <= raised <= 35  # about half of the generator's draws need raising


def test_shader_shades_quads_with_the_hand_computed_irradiance():
    renderer = renderer_or_skip(SIZE, SIZE)
    try:
        cam = Camera(focal=40, width=SIZE, height=SIZE, position=(0, 0, 0))
        half = 0.5
        facing = np.array([[-half, -half, -4], [half, -half, -4], [half, half, -4], [-half, half, -4]], np.float32)
        turn = np.radians(60)  # about +y: the normal becomes (sin 60, 0, cos 60)
        rot = np.array([[np.cos(turn), 0, np.sin(turn)], [0, 1, 0], [-np.sin(turn), 0, np.cos(turn)]])
        tilted = (facing - [0, 0, -4]) @ rot.T + [0, 0, -4]
        faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
        white = np.ones((4, 3), np.float32)
        lighting = sh.SHLighting(coefficients(L00=0.5, L11=0.3))  # L10 = 0: the normal's x does not count

        def linear_centre(vertices):
            frame = renderer.render([Mesh(vertices, faces, white)], cam, lighting=lighting)
            srgb = frame.color[SIZE // 2, SIZE // 2].astype(np.float64) / 255
            return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)

        front, side = linear_centre(facing), linear_centre(tilted)
        np.testing.assert_allclose(front, C4 * 0.5 + 2 * C2 * 0.3, rtol=0.01)  # albedo 1: radiance = E
        np.testing.assert_allclose(side, C4 * 0.5 + 2 * C2 * 0.3 * 0.5, rtol=0.01)
        grey = renderer.render([Mesh(facing, faces, np.full((4, 3), 0.5, np.float32))], cam,
                               lighting=sh.SHLighting(coefficients(L00=1 / C4)))  # fmt: skip
        np.testing.assert_allclose(grey.color[SIZE // 2, SIZE // 2], 0.5 * 255, atol=1.0)  # E = 1: the albedo itself
    finally:
        renderer.release()
