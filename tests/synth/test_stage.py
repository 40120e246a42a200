"""The paper generator's stage: camera from a 60 mm lens on a 32 mm sensor, pitch, placement region, billboard.

Every expected number is worked by hand from the generator's constants (generate_multiHumanPose.py), not from
ltsh_jax.synth.stage's own helpers.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ltsh_jax.synth import scene, stage
from ltsh_jax.synth.stick_people import StickPeople

SIZE = 640


def test_focal_gives_the_generators_field_of_view():
    cam = stage.sample_stage(np.random.default_rng(0), stage.StageConfig(), SIZE, SIZE).camera
    assert cam.focal == pytest.approx(60 / 32 * 640)  # 1200 px
    # horizontal field of view of a 60 mm lens on a 32 mm sensor: 2 atan(16 / 60) = 29.86 degrees
    assert np.degrees(2 * np.arctan(SIZE / 2 / cam.focal)) == pytest.approx(29.8628, abs=1e-3)
    # the ray through the left edge of the centre row makes half that angle with the optical axis
    axis = cam.ray(np.array([SIZE / 2 - 0.5, SIZE / 2 - 0.5]))
    edge = cam.ray(np.array([-0.5, SIZE / 2 - 0.5]))
    assert np.degrees(np.arccos(axis @ edge)) == pytest.approx(14.9314, abs=1e-3)


def test_pitch_is_atan_of_three_quarters_u_and_the_camera_aims_at_the_billboard_centre():
    rng = np.random.default_rng(1)
    config = stage.StageConfig()
    drawn = [stage.sample_stage(rng, config, 64, 64) for _ in range(400)]
    pitches = np.array([s.camera.pitch for s in drawn])
    distance = np.array([s.camera.position[2] for s in drawn])  # camera to the scene centre
    height = np.array([s.camera.position[1] for s in drawn])
    assert abs(distance.mean() - 9.0) < 0.02 and abs(distance.std() - 0.1) < 0.02
    assert pitches.min() >= 0 and pitches.max() <= 37.2  # atan(9.4 / 12.4): 36.87 degrees at 9 m, 4 sigma further
    # height offset / distance ~ U[0, 1], and the pitch looks down at (0, 1, -3): tan(pitch) = offset / (distance + 3)
    u = (height - 1.0) / distance
    assert stats.kstest(u, stats.uniform(0, 1).cdf).pvalue > 1e-3
    np.testing.assert_allclose(np.tan(np.radians(pitches)), u * distance / (distance + 3), rtol=1e-9)
    assert np.degrees(np.arctan(0.75)) == pytest.approx(36.87, abs=0.01)
    for s in drawn[:5]:
        pixel, _ = s.camera.project(np.array([0.0, 1.0, -3.0]))
        np.testing.assert_allclose(pixel, [31.5, 31.5], atol=1e-9)


def test_paper_pitch_rule_draws_pitch_uniformly_with_the_same_camera_model():
    rng = np.random.default_rng(2)
    config = stage.StageConfig(pitch_rule="uniform", pitch_range=(0.0, 45.0))
    drawn = [stage.sample_stage(rng, config, 64, 64) for _ in range(300)]
    pitches = np.array([s.camera.pitch for s in drawn])
    assert stats.kstest(pitches, stats.uniform(0, 45).cdf).pvalue > 1e-3
    for s in drawn[:5]:
        assert s.camera.focal == pytest.approx(60 / 32 * 64)
        pixel, _ = s.camera.project(np.array([0.0, 1.0, -3.0]))
        np.testing.assert_allclose(pixel, [31.5, 31.5], atol=1e-9)


def test_people_stand_on_the_ground_inside_the_generators_region():
    rng = np.random.default_rng(3)
    people = StickPeople()
    config = scene.SceneConfig(width=SIZE, height=SIZE, stage=stage.StageConfig())
    placed_people = 0
    for _ in range(6):
        s = stage.sample_stage(rng, config.stage, SIZE, SIZE)
        cam = s.camera
        h, cam_z, p = cam.position[1], cam.position[2], np.radians(cam.pitch)
        # the bottom edge's ray is atan(320 / 1200) = 14.93 degrees below the optical axis
        near_z = cam_z - h / np.tan(p + np.arctan(SIZE / 2 / 1200))
        assert s.near_z == pytest.approx(near_z, abs=1e-9)
        vertices, joints, _ = people(rng, 10)
        placed = scene.place_humans(rng, cam, list(vertices), joints, config, s)
        assert len(placed.kept) >= 5
        for body, body_joints in zip(placed.vertices, placed.joints, strict=True):
            assert abs(body[:, 1].min()) < 1e-9  # feet on the ground
            x, z = body_joints[scene.PELVIS, 0], body_joints[scene.PELVIS, 2]  # the placed ground point
            assert -3.0 <= z <= near_z
            depth = (cam_z - z) * np.cos(p) + h * np.sin(p)  # of the ground point, along the optical axis
            assert abs(x) <= 0.75 * depth * (SIZE / 2) / 1200 + 1e-9  # 3/4 of the visible half width
            assert body[:, 2].min() > -3.0 - 0.02  # in front of the billboard (capsules: 90th percentile radius)
            placed_people += 1
    assert placed_people >= 30


def test_people_heights_in_pixels_follow_from_the_stage():
    """Stick people 1.74 m tall at 640 px: between the far bound (at the billboard, steepest camera) and the near."""
    rng = np.random.default_rng(4)
    people = StickPeople()
    config = scene.SceneConfig(width=SIZE, height=SIZE, stage=stage.StageConfig())
    heights = []
    for _ in range(8):
        s = stage.sample_stage(rng, config.stage, SIZE, SIZE)
        vertices, joints, _ = people(rng, 8)
        placed = scene.place_humans(rng, s.camera, list(vertices), joints, config, s)
        _, depth = s.camera.project(placed.joints[:, scene.PELVIS])
        heights.append(1200 * 1.74 / depth)
    heights = np.concatenate(heights)
    # farthest: pelvis (0.95 m) at the billboard 12.4 m away, camera 1 + 9.4 m high, pitch 37.2 degrees:
    # depth 12.4 cos + 9.45 sin = 15.6 m -> 134 px; nearest: the bottom edge with the lowest camera, 1 m high at
    # pitch 0: 1 / tan(14.93) = 3.75 m -> 557 px
    assert heights.min() >= 1200 * 1.74 / 15.6 and heights.max() <= 1200 * 1.74 / 3.75
    assert 140 <= np.median(heights) <= 300, np.percentile(heights, [0, 50, 100])


def test_billboard_shows_the_texture_in_perspective_and_covers_the_frame():
    rng = np.random.default_rng(5)
    s = stage.sample_stage(rng, stage.StageConfig(), 96, 96)
    side = 80
    ramp = np.round(255 * (np.arange(side) + 0.5) / side).astype(np.uint8)
    texture = np.zeros((side, side, 3), np.uint8)
    texture[..., 0], texture[..., 1], texture[..., 2] = ramp[None, :], ramp[:, None], 255
    image = stage.billboard_image(texture, s)
    assert (image[..., 2] == 255).all()  # the billboard covers every pixel
    for a, b in [(0.45, 0.5), (0.52, 0.43), (0.56, 0.61), (0.4, 0.55)]:  # texture coordinates (across, down)
        point = np.array([s.centre[0] + (a - 0.5) * s.side, s.centre[1] - (b - 0.5) * s.side, s.plane_z])
        pixel, _ = s.camera.project(point)
        col, row = np.round(pixel).astype(int)
        np.testing.assert_allclose(image[row, col, :2] / 255, [a, b], atol=0.02)


def test_count_floor_raises_small_draws_to_two():
    rng = np.random.default_rng(6)
    counts = np.array([scene.sample_num_humans(rng, 10.0, 30, floor=2) for _ in range(2000)])
    assert counts.min() == 2
    k = np.arange(0, 60)
    pmf = stats.poisson(10.0).pmf(k)
    mean = (np.maximum(k, 2) * pmf).sum()  # E[max(K, 2)], K ~ Poisson(10)
    assert abs(counts.mean() - mean) < 4 * np.sqrt(10.0 / len(counts))
    with pytest.raises(ValueError, match="count_floor"):
        scene.SceneConfig(count_floor=0)


def test_bad_stage_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="pitch_rule"):
        stage.StageConfig(pitch_rule="random")
    with pytest.raises(ValueError, match="pitch_range"):
        stage.StageConfig(pitch_rule="uniform", pitch_range=(10.0, 5.0))
    with pytest.raises(ValueError, match="lighting"):
        scene.SceneConfig(lighting="flash")
