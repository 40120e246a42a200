"""Skeleton layouts against the facts of docs/reference.md and the MPII joint list."""

import numpy as np
import pytest

from ltsh_jax import skeleton as sk


def test_cmu_mpi_layout_matches_reference():
    s = sk.CMU_MPI
    assert (s.num_parts, s.num_heatmaps, s.num_limbs, s.num_pafs) == (15, 16, 14, 28)
    # MPII-16 ids of the 15 parts, as listed in docs/reference.md (chest = mean of thorax 7 and pelvis 6).
    assert s.to_mpii16 == (9, 8, 12, 11, 10, 13, 14, 15, 2, 1, 0, 3, 4, 5, None)
    assert sorted(s.from_mpii16[14]) == [6, 7]
    # Every limb joins parts whose names say they are neighbours on the body.
    names = [(s.part_names[a], s.part_names[b]) for a, b in s.limbs]
    assert ("head_top", "upper_neck") in names and ("r_knee", "r_ankle") in names and ("chest", "l_hip") in names


def test_part_names_agree_with_mpii_names():
    for s in (sk.CMU_MPI, sk.COCO17):
        for part, mpii_id in enumerate(s.to_mpii16):
            if mpii_id is not None:
                assert s.part_names[part] == sk.MPII16_NAMES[mpii_id]


@pytest.mark.parametrize("s", [sk.CMU_MPI, sk.COCO17])
def test_flip_pairs_swap_left_and_right_names(s):
    perm = s.flip_permutation
    assert sorted(perm) == list(range(s.num_parts))
    assert (perm[perm] == np.arange(s.num_parts)).all()  # an involution
    for i, j in enumerate(perm):
        a, b = s.part_names[i], s.part_names[j]
        if i == j:
            assert not a.startswith(("l_", "r_"))
        else:
            assert {a[:2], b[:2]} == {"l_", "r_"} and a[2:] == b[2:]


def test_mpii16_flip_pairs_and_eval_groups():
    for left_or_right_a, left_or_right_b in sk.MPII16_FLIP_PAIRS:
        a, b = sk.MPII16_NAMES[left_or_right_a], sk.MPII16_NAMES[left_or_right_b]
        assert a[2:] == b[2:] and {a[:2], b[:2]} == {"l_", "r_"}
    assert len(sk.MPII16_SCORED) == 14 and 6 not in sk.MPII16_SCORED and 7 not in sk.MPII16_SCORED
    assert sk.CMU_MPI.eval_groups["Head"] == (1, 0)
    assert sk.CMU_MPI.eval_groups["Ankle"] == (10, 13)
    assert "Head" not in sk.COCO17.eval_groups and sk.COCO17.eval_groups["Wrist"] == (10, 9)


def test_from_mpii16_builds_chest_and_respects_labels():
    kp = np.arange(32, dtype=np.float32).reshape(16, 2)
    labelled = np.ones(16, bool)
    xy, lab = sk.from_mpii16(sk.CMU_MPI, kp, labelled)
    np.testing.assert_allclose(xy[14], (kp[6] + kp[7]) / 2)
    np.testing.assert_allclose(xy[0], kp[9])
    assert lab.all()
    labelled[6] = False  # no pelvis -> no chest, the rest unchanged
    labelled[0] = False  # no right ankle
    xy, lab = sk.from_mpii16(sk.CMU_MPI, kp[None], labelled[None])
    assert not lab[0, 14] and not lab[0, 10] and lab[0, :10].all()
    assert (xy[0, 14] == 0).all()


def test_round_trip_through_mpii16():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, (3, 16, 2)).astype(np.float32)
    xy, lab = sk.from_mpii16(sk.CMU_MPI, kp, np.ones((3, 16), bool))
    back, score = sk.to_mpii16(sk.CMU_MPI, xy, lab.astype(np.float32))
    scored = [j for j in range(16) if j not in (6, 7)]
    np.testing.assert_array_equal(back[:, scored], kp[:, scored])
    assert (score[:, scored] == 1).all() and (score[:, [6, 7]] == 0).all()


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"\(\.\.\., 16, 2\)"):
        sk.from_mpii16(sk.CMU_MPI, np.zeros((15, 2)), np.zeros(15))
    with pytest.raises(ValueError, match="out of range"):
        sk.Skeleton("bad", ("a", "b"), ((0, 2),), (), ((0,), (1,)))
