"""Scene layout: Poisson counts, camera pitch, capsule geometry, placement in view without penetration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ltsh_jax.synth import scene

# A standing stick person in the body frame (metres, +y up, facing +z), MPII-16 order.
STANDING = np.array([
    [-0.1, 0.08, 0], [-0.1, 0.5, 0], [-0.1, 0.92, 0], [0.1, 0.92, 0], [0.1, 0.5, 0], [0.1, 0.08, 0],
    [0, 0.95, 0], [0, 1.45, 0], [0, 1.55, 0], [0, 1.78, 0],
    [-0.25, 0.9, 0], [-0.25, 1.15, 0], [-0.2, 1.42, 0], [0.2, 1.42, 0], [0.25, 1.15, 0], [0.25, 0.9, 0],
])  # fmt: skip


def stick_body(joints: np.ndarray, radius: float = 0.06, per_bone: int = 200, seed: int = 0) -> np.ndarray:
    """Vertices on the surface of capsules of `radius` around the capsule bones (a body with known thickness)."""
    rng = np.random.default_rng(seed)
    points = []
    for a, b in scene.CAPSULE_BONES:
        t = rng.uniform(0, 1, per_bone)[:, None]
        direction = rng.normal(size=(per_bone, 3))
        axis = joints[b] - joints[a]
        axis = axis / np.linalg.norm(axis)
        direction -= (direction @ axis)[:, None] * axis  # perpendicular to the bone
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        points.append(joints[a] + t * (joints[b] - joints[a]) + radius * direction)
    return np.concatenate(points)


def test_lambda_must_be_positive():
    with pytest.raises(ValueError, match="lam"):
        scene.SceneConfig(lam=0.0)
    with pytest.raises(ValueError, match="> 0"):
        scene.sample_num_humans(np.random.default_rng(0), -1.0)


@pytest.mark.parametrize("lam", [9.0, 0.7])
def test_mean_number_of_humans_is_that_of_a_zero_truncated_poisson(lam):
    rng = np.random.default_rng(1)
    counts = np.array([scene.sample_num_humans(rng, lam) for _ in range(300)])
    assert counts.min() >= 1
    mean = lam / (1 - np.exp(-lam))  # E[K | K >= 1]
    var = mean * (1 + lam - mean)
    assert abs(counts.mean() - mean) < 4 * np.sqrt(var / len(counts))


def test_pitch_spreads_uniformly_over_0_45():
    rng = np.random.default_rng(2)
    config = scene.SceneConfig()
    pitches = np.array([scene.sample_camera(rng, config).pitch for _ in range(300)])
    assert pitches.min() >= 0 and pitches.max() <= 45
    assert pitches.min() < 2 and pitches.max() > 43
    assert stats.kstest(pitches, stats.uniform(0, 45).cdf).pvalue > 1e-3


def test_segment_distance_matches_dense_sampling():
    rng = np.random.default_rng(3)
    p1, q1, p2, q2 = rng.normal(size=(4, 50, 3))
    q2[:5] = p2[:5]  # degenerate segments (points)
    q1[5:10] = p1[5:10] + 1e-14
    got = scene.segment_distances(p1, q1, p2, q2)
    t = np.linspace(0, 1, 201)
    a = p1[:, None] + t[None, :, None] * (q1 - p1)[:, None]
    b = p2[:, None] + t[None, :, None] * (q2 - p2)[:, None]
    brute = np.linalg.norm(a[:, :, None] - b[:, None, :], axis=-1).min(axis=(1, 2))
    assert (got <= brute + 1e-9).all() and (brute - got < 0.04).all()
    np.testing.assert_allclose(scene.segment_distances(*np.array([[0, 0, 0], [1, 0, 0], [0.5, 1, 0], [0.5, 3, 5]])),
                               1.0)  # fmt: skip


def test_capsule_radii_fit_the_body_thickness():
    _, _, radii = scene.body_capsules(stick_body(STANDING, radius=0.06), STANDING)
    np.testing.assert_allclose(radii, 0.06, atol=0.005)


def test_capsules_overlap_exactly_when_bodies_are_closer_than_their_thickness():
    body = stick_body(STANDING)
    caps = scene.body_capsules(body, STANDING)

    def shifted(dx):
        return caps[0] + [dx, 0, 0], caps[1] + [dx, 0, 0], caps[2]

    # the widest points are the hands at x = +-0.25: a copy shifted by 0.5 + 2r touches the original
    assert scene.capsules_overlap(caps, shifted(0.5 + 0.11))
    assert not scene.capsules_overlap(caps, shifted(0.5 + 0.13))


def test_placed_humans_are_in_view_and_never_penetrate():
    config = scene.SceneConfig(width=160, height=160, distance_range=(2.0, 4.0), placement_tries=20)
    rng = np.random.default_rng(4)
    bodies = [stick_body(STANDING, per_bone=40, seed=i) for i in range(12)]
    camera = scene.sample_camera(rng, config)
    placed = scene.place_humans(rng, camera, bodies, np.stack([STANDING] * 12), config)
    assert len(placed.kept) + placed.dropped == 12 and len(placed.kept) >= 2
    assert placed.rejected_overlap > 0 and 0 < placed.rejection_rate < 1  # crowded: some placements rejected
    pelvis_px, depth = camera.project(placed.joints[:, scene.PELVIS])
    assert (depth > 0).all() and (pelvis_px >= 0).all() and (pelvis_px <= 159).all()
    for v in placed.vertices:
        assert abs(v[:, 1].min()) < 1e-9  # standing on the ground
    # independent check: every pair of placed bodies keeps its surface points apart by more than a bit
    for i in range(len(placed.vertices)):
        for j in range(i):
            gap = np.linalg.norm(placed.vertices[i][:, None] - placed.vertices[j][None], axis=-1).min()
            assert gap > 0.01


def winding_numbers(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Generalised winding number of each point w.r.t. a triangle mesh (~1 inside a closed mesh, ~0 outside)."""
    out = []
    for start in range(0, len(points), chunk):
        rel = vertices[faces][None] - points[start : start + chunk, None, None]  # [M, F, 3, 3]
        a, b, c = rel[..., 0, :], rel[..., 1, :], rel[..., 2, :]
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        numerator = (a * np.cross(b, c)).sum(-1)
        denominator = la * lb * lc + (a * b).sum(-1) * lc + (b * c).sum(-1) * la + (c * a).sum(-1) * lb
        out.append(2 * np.arctan2(numerator, denominator).sum(-1) / (4 * np.pi))
    return np.concatenate(out)


def test_winding_numbers_tell_inside_from_outside():
    from ltsh_jax.synth.stick_people import STANDING as POSE
    from ltsh_jax.synth.stick_people import stick_mesh

    vertices, faces = stick_mesh(POSE)
    w = winding_numbers(np.array([POSE[6], POSE[6] + [0, 0, 0.3], POSE[9] + [0, 0.3, 0]]), vertices, faces)
    assert w[0] > 0.5 and abs(w[1]) < 0.1 and abs(w[2]) < 0.1


def _assert_no_mesh_intersects(placed_vertices, faces, every=1):
    for i, a in enumerate(placed_vertices):
        for j, b in enumerate(placed_vertices):
            if i == j or (a.min(0) > b.max(0)).any() or (b.min(0) > a.max(0)).any():
                continue  # bounding boxes apart
            inside = winding_numbers(a[::every], b, faces) > 0.5
            assert not inside.any(), f"{inside.sum()} vertices of human {i} inside human {j}"


def test_placed_stick_meshes_never_intersect():
    from ltsh_jax.synth.stick_people import StickPeople

    people = StickPeople()
    rng = np.random.default_rng(6)
    config = scene.SceneConfig(width=160, height=160, distance_range=(2.0, 3.5), placement_tries=30)
    vertices, joints, _ = people(rng, 14)
    camera = scene.sample_camera(rng, config)
    placed = scene.place_humans(rng, camera, list(vertices), joints, config)
    assert len(placed.kept) >= 3 and placed.rejected_overlap > 0
    _assert_no_mesh_intersects(placed.vertices, people.faces, every=5)


@pytest.mark.slow
def test_placed_body_model_meshes_never_intersect():
    generate = pytest.importorskip("ltsh_jax.synth.generate")
    for module in ("body_model", "poses", "appearance"):
        pytest.importorskip(f"ltsh_jax.synth.{module}")
    people = generate.BodyModelPeople()
    rng = np.random.default_rng(7)
    config = scene.SceneConfig(
        distance_range=(2.0, 5.0), placement_tries=30, pitch_range=(30.0, 30.0), camera_height_range=(2.0, 2.0)
    )  # fmt: skip  (a view of the ground 2-5 m away)
    vertices, joints, _ = people(rng, 5)
    camera = scene.sample_camera(rng, config)
    placed = scene.place_humans(rng, camera, list(vertices), joints, config)
    assert len(placed.kept) >= 2
    _assert_no_mesh_intersects(placed.vertices, people.faces, every=97)
