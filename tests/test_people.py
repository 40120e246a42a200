"""The padded people record: host-side checks name the bad field."""

import numpy as np
import pytest

from ltsh_jax.people import check_people, empty_people


def test_empty_people_passes_and_has_fixed_shapes():
    people = empty_people(4, 15)
    check_people(people, 15)
    assert people.keypoints.shape == (4, 15, 2) and people.valid.shape == (4,) and not people.valid.any()


def test_wrong_keypoint_shape_is_named():
    people = empty_people(4, 15).replace(keypoints=np.zeros((4, 16, 2), np.float32))
    with pytest.raises(ValueError, match=r"people.keypoints must have shape \(\.\.\., P, 15, 2\)"):
        check_people(people, 15)


def test_wrong_flag_shape_is_named():
    people = empty_people(4, 15).replace(valid=np.zeros((3,), bool))
    with pytest.raises(ValueError, match=r"people.valid must have shape \(4,\)"):
        check_people(people, 15)


def test_nan_on_labelled_joint_is_an_error_but_not_on_unlabelled():
    people = empty_people(2, 15)
    people.keypoints[1, 3] = np.nan
    check_people(people, 15)  # unlabelled: ignored
    people.labelled[1, 3] = True
    with pytest.raises(ValueError, match="NaN"):
        check_people(people, 15)
