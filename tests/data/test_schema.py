"""Tests of ltsh_jax.data.schema: minimal distances between people against hand-computed values."""

from __future__ import annotations

import numpy as np

from ltsh_jax.data.schema import ALONE_DISTANCE, min_distances


def test_min_distance_is_between_closest_labelled_joints():
    keypoints = np.zeros((4, 16, 2), np.float32)
    labelled = np.zeros((4, 16), bool)
    for person, joint, xy in [(0, 0, (0, 0)), (0, 1, (10, 0)), (1, 0, (13, 4)), (1, 5, (100, 100)), (2, 0, (200, 0))]:
        keypoints[person, joint], labelled[person, joint] = xy, True
    keypoints[1, 7] = (10, 1)  # unlabelled joints do not count, whatever their coordinates
    # b is 5 px from a's joint 1; c is nearest to b's joint 5; the last person has nothing labelled
    want = [5, 5, np.hypot(100, 100), ALONE_DISTANCE]
    np.testing.assert_allclose(min_distances(keypoints, labelled), want, rtol=1e-6)
    assert min_distances(keypoints[:1], labelled[:1])[0] == ALONE_DISTANCE


def test_every_labelled_joint_pair_counts():
    keypoints = np.zeros((3, 16, 2), np.float32)
    keypoints[1] += [3.0, 4.0]
    keypoints[2] += [100.0, 0.0]
    labelled = np.ones((3, 16), bool)
    np.testing.assert_allclose(min_distances(keypoints, labelled), [5.0, 5.0, np.hypot(97, 4)], rtol=1e-6)
    assert ALONE_DISTANCE == 1e6  # larger than any image, the value stored in every built dataset
