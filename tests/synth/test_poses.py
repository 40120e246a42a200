"""Pose sampler: limits, what each family means geometrically, anatomical axes, pose files."""

from __future__ import annotations

import numpy as np
import pytest

from ltsh_jax.skeleton import MPII16_NAMES
from ltsh_jax.synth import body_model as bm
from ltsh_jax.synth import poses

J = {name: i for i, name in enumerate(MPII16_NAMES)}


@pytest.fixture(scope="module")
def model():
    return bm.load_body_model()


def _joints(model, rotations: np.ndarray) -> np.ndarray:
    shapes = np.repeat(bm.DEFAULT_SHAPE[None], len(rotations), 0)
    return np.asarray(bm.pose_bodies(model, shapes, rotations).joints)


@pytest.fixture(scope="module")
def samples(model):
    rng = np.random.default_rng(0)
    return {f: np.stack([poses.sample_pose(rng, model, f) for _ in range(8)]) for f in poses.POSE_FAMILIES}


def test_samples_within_limits(model, samples):
    rng = np.random.default_rng(1)
    drawn = np.stack([poses.sample_pose(rng, model) for _ in range(16)])
    for family, rotations in [*samples.items(), ("any", drawn)]:
        assert rotations.dtype == np.float32 and rotations.shape[1:] == (model.num_bones, 3), family
        assert poses.within_limits(model, rotations).all(), family
    low, high = poses.limits(model)
    locked = np.flatnonzero((high[1:] - low[1:]).max(1) == 0) + 1  # fingers, toes, eyes
    assert len(locked) > 50
    np.testing.assert_allclose(samples["free"][:, locked], 0.0, atol=1e-6)


def test_deterministic(model):
    a = poses.sample_pose(np.random.default_rng(5), model)
    b = poses.sample_pose(np.random.default_rng(5), model)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, poses.sample_pose(np.random.default_rng(6), model))


def test_anatomical_round_trip(model):
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.5, (4, model.num_bones, 3))
    np.testing.assert_allclose(poses.from_anatomical(model, poses.to_anatomical(model, r)), r, atol=1e-9)


def _single(model, bone: str, axis: int, value: float) -> np.ndarray:
    a = np.zeros((model.num_bones, 3))
    a[model.bone_index(bone), axis] = value
    return poses.from_anatomical(model, a).astype(np.float32)


def test_axes_mean_what_they_say(model):
    moves = np.stack(
        [
            np.zeros((model.num_bones, 3), np.float32),
            _single(model, "upperleg01.L", 0, 1.2),  # hip flexion: knee forward
            _single(model, "lowerleg01.R", 0, 1.2),  # knee flexion: ankle backward and up
            _single(model, "lowerarm01.L", 0, 1.2),  # elbow flexion: wrist towards the shoulder
            _single(model, "upperarm01.R", 2, 1.2),  # shoulder abduction: elbow out and up
            _single(model, "upperleg01.L", 2, 0.6),  # hip abduction: knee out (+x on the left)
        ]
    )
    j0, hip, knee, elbow, shoulder, abd = _joints(model, moves)
    assert hip[J["l_knee"], 2] > j0[J["l_knee"], 2] + 0.2
    assert knee[J["r_ankle"], 2] < j0[J["r_ankle"], 2] - 0.2 and knee[J["r_ankle"], 1] > j0[J["r_ankle"], 1]
    dist = lambda j: np.linalg.norm(j[J["l_wrist"]] - j[J["l_shoulder"]])
    assert dist(elbow) < dist(j0) - 0.1
    assert shoulder[J["r_elbow"], 1] > j0[J["r_elbow"], 1] + 0.1 and shoulder[J["r_elbow"], 0] < j0[J["r_shoulder"], 0]
    assert abd[J["l_knee"], 0] > j0[J["l_knee"], 0] + 0.1


def test_families_differ_as_they_should(model, samples):
    anat = {f: poses.to_anatomical(model, r) for f, r in samples.items()}
    hips = [model.bone_index(f"upperleg01.{s}") for s in "LR"]
    knees = [model.bone_index(f"lowerleg01.{s}") for s in "LR"]
    assert (anat["sitting"][:, hips, 0] > 1.2).all() and (anat["sitting"][:, knees, 0] > 1.1).all()
    assert (anat["crouching"][:, knees, 0] > 1.8).all()
    assert (np.abs(anat["standing"][:, hips, 0]) < 0.35).all() and (anat["standing"][:, knees, 0] < 0.35).all()
    walk = anat["walking"][:, hips, 0]
    assert (walk[:, 0] * walk[:, 1] < 0).all()  # one leg forward, one back
    # Geometry with the heading removed: sitting puts the knees in front of the hips; lying is horizontal.
    sitting = samples["sitting"].copy()
    sitting[:, 0] = 0.0
    j = _joints(model, np.concatenate([sitting, samples["lying"], samples["standing"]]))
    sit, lie, stand = j[:8], j[8:16], j[16:]
    assert (sit[:, [J["l_knee"], J["r_knee"]], 2] > sit[:, [J["l_hip"], J["r_hip"]], 2] + 0.2).all()
    for people, horizontal in ((lie, True), (stand, False)):
        axis = people[:, J["head_top"]] - people[:, [J["l_ankle"], J["r_ankle"]]].mean(1)
        vertical = np.abs(axis[:, 1]) / np.linalg.norm(axis, axis=1)
        assert (vertical < 0.5).all() if horizontal else (vertical > 0.9).all()
