"""Tests of ltsh_jax.teacher.groups: bins hand-computed for C, mD and C+mD, empty groups masked, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ltsh_jax.data.sampling import PersonIndex
from ltsh_jax.teacher import groups


def _index(pitch, distance) -> PersonIndex:
    n = len(pitch)
    return PersonIndex(
        record=np.arange(n, dtype=np.int64),
        person=np.zeros(n, np.int64),
        is_synthetic=np.ones(n, bool),
        min_distance=np.asarray(distance, np.float32),
        camera_pitch=np.asarray(pitch, np.float32),
    )


def test_min_distance_bins_are_64_px_wide_over_0_640():
    distance = [0.0, 63.9, 64.0, 300.0, 639.0, 640.0, 1e6]
    grouping = groups.make_grouping(_index([0.0] * 7, distance), "mD", 10)
    np.testing.assert_allclose(grouping.edges["mD"], np.arange(11) * 64.0)
    # 0 and 63.9 -> bin 0; 64 -> 1; 300 -> 4; 639, 640 and the alone value 1e6 -> last bin 9
    expected = {0: [0, 1], 1: [2], 4: [3], 9: [4, 5, 6]}
    for g, members in enumerate(grouping.members):
        assert members.tolist() == expected.get(g, []), g
    np.testing.assert_array_equal(grouping.sizes, [2, 1, 0, 0, 1, 0, 0, 0, 0, 3])
    np.testing.assert_array_equal(grouping.mask, grouping.sizes > 0)


def test_camera_pitch_bins_follow_the_references_group_boundaries():
    """C: Var = (max - min) / bins, centres linspace(min + Var, max - Var, bins), the first bins - 1 the inner
    edges of np.digitize (tf_pose/groupBoundaries.npy). Pitch 0 .. 40 deg in 4 bins, by hand: Var = 10,
    centres 10, 16.67, 23.33, 30, inner edges 10, 16.67, 23.33."""
    pitch = np.array([0.0, 9.99, 10.0, 16.0, 20.0, 23.4, 30.0, 40.0])
    grouping = groups.make_grouping(_index(pitch, [0.0] * 8), "C", 4)
    np.testing.assert_allclose(grouping.edges["C"], [0.0, 10.0, 50 / 3, 70 / 3, 40.0])
    hand = {0: [0, 1], 1: [2, 3], 2: [4], 3: [5, 6, 7]}  # 10 opens bin 1; 23.4 >= 23.33 is in the open last bin
    for g, members in enumerate(grouping.members):
        assert members.tolist() == hand[g], g


def test_camera_pitch_edges_equal_the_reference_file_for_its_pitch_range():
    """tf_pose/groupBoundaries.npy, camera_angle: Var 3.65881 and centres 3.68161 + 3.25228 k (k = 0..9), i.e.
    pitch over [3.68161 - 3.65881, 32.95209 + 3.65881] = [0.02280, 36.61090] deg; its first 9 are the edges."""
    reference = [3.68161, 6.93389, 10.18616, 13.43844, 16.69071, 19.94299, 23.19526, 26.44754, 29.69981]
    pitch = np.array([0.02280, 5.0, 20.0, 36.61090])
    edges = groups.bin_edges(_index(pitch, [0.0] * 4), "C", 10)
    np.testing.assert_allclose(edges[1:-1], reference, atol=2e-5)
    np.testing.assert_allclose(edges[[0, -1]], [0.02280, 36.61090], atol=1e-5)


def test_joint_grouping_is_the_product_of_bins():
    pitch = [0.0, 0.0, 45.0, 45.0, 20.0]
    distance = [10.0, 600.0, 10.0, 600.0, 10.0]
    grouping = groups.make_grouping(_index(pitch, distance), "C+mD", 2)
    assert grouping.num_groups == 4
    # group = c * 2 + m: (low pitch, near) 0, (low, far) 1, (high, near) 2, (high, far) 3
    c_mid = (grouping.edges["C"][0] + grouping.edges["C"][-1]) / 2
    c_bin = [0 if p < c_mid else 1 for p in pitch]
    m_bin = [0 if d < 320 else 1 for d in distance]
    for g, members in enumerate(grouping.members):
        assert members.tolist() == [i for i in range(5) if c_bin[i] * 2 + m_bin[i] == g]
    assert "group 3" in groups.describe(grouping)


def test_missing_key_is_a_clear_error():
    with pytest.raises(ValueError, match=r"camera_pitch.*missing.*all 4"):
        groups.make_grouping(_index([np.nan] * 4, [1.0, 100.0, 200.0, 300.0]), "C", 10)
    with pytest.raises(ValueError, match=r"grouping"):
        groups.make_grouping(_index([1.0, 2.0], [1.0, 2.0]), "pose", 10)


def test_fewer_than_two_non_empty_groups_is_a_clear_error():
    with pytest.raises(ValueError, match=r"1 group\(s\) of at least 1 samples"):
        groups.make_grouping(_index([0.0] * 3, [5.0, 10.0, 20.0]), "mD", 10)  # all in bin 0
    with pytest.raises(ValueError, match="nothing to group by"):
        groups.make_grouping(_index([30.0] * 3, [5.0, 100.0, 200.0]), "C", 10)  # constant pitch


def test_assign_bins_puts_outside_values_into_the_end_bins():
    np.testing.assert_array_equal(groups.assign_bins(np.array([-5.0, 0.0, 4.99, 5.0, 10.0, 99.0]), [0, 5, 10]),
                                  [0, 0, 0, 1, 1, 1])  # fmt: skip


def test_groups_smaller_than_the_minimum_are_masked_and_reported():
    """Groups that cannot fill the synthetic slots of a batch are never drawn (the reference: <= 32 is empty)."""
    distance = [10.0] * 20 + [200.0] * 3 + [400.0] * 16 + [600.0] * 15  # 4 bins of 160 px: 20, 3, 16, 15 samples
    grouping = groups.make_grouping(_index([0.0] * 54, distance), "mD", 4, min_size=16)
    np.testing.assert_array_equal(grouping.sizes, [20, 3, 16, 15])
    np.testing.assert_array_equal(grouping.mask, [True, False, True, False])
    text = groups.describe(grouping)
    assert "2 drawable" in text and "under 16 samples are never drawn: [1, 3]" in text
    assert "group 1: 3 samples (too small: never drawn)" in text and "group 2: 16 samples," in text
    with pytest.raises(ValueError, match="1 group\\(s\\) of at least 17 samples"):
        groups.make_grouping(_index([0.0] * 54, distance), "mD", 4, min_size=17)


def test_default_minimum_is_the_synthetic_slots_of_a_batch():
    import ml_collections

    from ltsh_jax.data.sampling import real_slots
    from ltsh_jax.teacher.hook import min_group_size

    slots = int((~real_slots(32, 0.5)).sum())  # the paper's batch: 16 real + 16 synthetic
    assert min_group_size(ml_collections.ConfigDict({"min_group_size": 0}), slots) == 16
    assert min_group_size(ml_collections.ConfigDict({"min_group_size": 40}), slots) == 40
    with pytest.raises(ValueError, match="min_group_size"):
        min_group_size(ml_collections.ConfigDict({"min_group_size": -1}), slots)
