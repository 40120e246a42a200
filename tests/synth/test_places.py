"""Procedural places: the horizon where the camera's pitch puts it, ground detail denser towards it, facades in
the billboard's plane, every material reachable, bytes a function of the rng."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ltsh_jax.synth import places, stage
from ltsh_jax.synth.camera import Camera


def _sky_only_ground(kind: str = "tiles", seed: int = 0) -> places.Place:
    place = places.sample_place(np.random.default_rng(seed))
    material = dataclasses.replace(
        places.sample_material(np.random.default_rng(seed), kind),
        base=np.full(3, 0.8, np.float32), alt=np.full(3, 0.8, np.float32), line=np.zeros(3, np.float32),
        size=1.0, line_width=0.05,
    )  # fmt: skip
    return dataclasses.replace(place, ground=material, facades=(), clouds=0.0, haze=1e9, ambient=1.0)


@pytest.mark.parametrize("pitch", [0.0, 7.5, 21.0, 28.0])
def test_horizon_row_is_where_the_pitch_puts_it(pitch):
    """Ground below, sky above: the change lies at row cy - focal tan(pitch) (hand formula), within a pixel."""
    camera = Camera(focal=200.0, width=200, height=240, position=(0.0, 5.0, 9.0), pitch=pitch)
    place = _sky_only_ground()
    place = dataclasses.replace(place, horizon=np.array([0.0, 0.0, 1.0], np.float32),
                                zenith=np.array([0.0, 0.0, 1.0], np.float32))  # fmt: skip
    image = places.draw_place(place, camera)
    expected = 240 / 2 - 0.5 - 200.0 * np.tan(np.radians(pitch))
    assert abs(places.horizon_row(camera) - expected) < 1e-9
    sky = (image[..., 2] == 255) & (image[..., 0] == 0)
    first_ground = np.argmin(sky, axis=0)  # first row from the top that is not sky, per column
    assert np.all(np.abs(first_ground - expected) <= 1.0), (first_ground.min(), first_ground.max(), expected)


def test_ground_lines_crowd_towards_the_horizon():
    """Evenly spaced grout lines on the ground project closer and closer together going up the image."""
    camera = Camera(focal=300.0, width=64, height=400, position=(0.37, 10.0, 9.0), pitch=30.0)
    image = places.draw_place(_sky_only_ground(), camera).astype(float)
    column = image[:, 32, 0]
    horizon = places.horizon_row(camera)
    ground = np.median(column[int(horizon) + 5 :])
    dark = np.flatnonzero((column < 0.6 * ground) & (np.arange(len(column)) > horizon + 5))  # lines a pixel wide
    starts = dark[np.concatenate([[True], np.diff(dark) > 1])]  # first row of each line
    gaps = np.diff(starts)
    assert len(gaps) >= 4
    assert np.all(np.diff(gaps) >= -1)  # spacing grows downwards (shrinks towards the horizon), pixel rounding aside
    assert gaps[-1] >= 2 * gaps[0]


def test_detail_fades_to_the_mean_where_a_pixel_covers_a_feature():
    material = places.sample_material(np.random.default_rng(3), "bricks")
    u = np.linspace(0, 5, 2000, dtype=np.float32)
    v = np.full_like(u, 1.23)
    sharp = places.shade_material(material, u, v, np.full_like(u, 0.001))
    blurred = places.shade_material(material, u, v, np.full_like(u, 10.0))
    assert sharp.std(0).max() > 0.02 and blurred.std(0).max() < 1e-4


def test_every_material_is_reachable_and_facades_stand_at_or_behind_the_billboard():
    ground, walls, windows = set(), set(), 0
    for seed in range(60):
        place = places.sample_place(np.random.default_rng(seed), front_z=-3.0)
        ground.add(place.ground.kind)
        for facade in place.facades:
            walls.add(facade.material.kind)
            windows += facade.windows is not None
            assert facade.z <= -3.0 and facade.x0 < facade.x1 and facade.height > 0
    assert ground == set(places.GROUND_KINDS) and walls == set(places.WALL_KINDS) and windows > 0


def test_stage_places_are_deterministic_sized_and_varied():
    config = stage.StageConfig()
    images = []
    for seed in (0, 0, 1):
        rng = np.random.default_rng(seed)
        drawn = stage.sample_stage(rng, config, 96, 96)
        images.append(places.procedural_places.on_stage(rng, drawn))
    assert images[0].shape == (96, 96, 3) and images[0].dtype == np.uint8
    assert images[0].tobytes() == images[1].tobytes() and images[0].tobytes() != images[2].tobytes()
    flat = places.procedural_places(np.random.default_rng(0), 80, 60)
    assert flat.shape == (60, 80, 3) and flat.std() > 1
    with pytest.raises(ValueError, match="scale"):
        places.ProceduralPlaces(scale=0)
