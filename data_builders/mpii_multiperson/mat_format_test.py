"""mat_format.load_mat on the squeezed shapes scipy gives the official file, value by value.

scipy.io.loadmat(struct_as_record=False, squeeze_me=True) turns a one-element struct array into a bare
struct and a one-element cell into its value: a person with one annotated point has annopoints.point as a
struct, not an array; an image with one rectangle has annorect as a struct; single_person{i} with one
index is a number. Coordinates stored as integers (uint16) and is_visible as '' must read as well.
"""

from __future__ import annotations

import numpy as np
import scipy.io

from data_builders.mpii_multiperson import mat_format
from data_builders.mpii_multiperson.dummy_data.make_dummy_data import _structs
from ltsh_jax.data.bad_input import BadInputReport

RECT = ("x1", "y1", "x2", "y2", "annopoints", "objpos", "scale")


def _point(joint, x, y, visible):
    return dict(id=joint, x=x, y=y, is_visible=visible)


def _rect(points, objpos=(50.0, 40.0), scale=1.5):
    return dict(x1=np.uint16(10), y1=np.uint16(11), x2=np.uint16(30), y2=np.uint16(35), scale=scale,
                annopoints=_structs([dict(point=_structs(points, ("id", "x", "y", "is_visible")))], ("point",)),
                objpos=_structs([dict(x=objpos[0], y=objpos[1])], ("x", "y")))  # fmt: skip


def test_squeezed_single_point_single_rectangle_and_integer_values(tmp_path):
    one_point = _rect([_point(9, np.uint16(21), np.uint16(31), "")])  # head top only, visibility ''
    two_points = _rect([_point(np.uint8(0), 5.5, 6.5, np.uint8(0)), _point(15, 7.0, 8.0, "1")], (60.0, 45.0), 2.0)
    entries = [
        dict(image=_structs([dict(name="a.jpg")], ("name",)), annorect=_structs([one_point, two_points], RECT)),
        dict(image=_structs([dict(name="b.jpg")], ("name",)), annorect=_structs([dict(scale=1.0)], RECT)),  # no points
        dict(image=_structs([dict(name="c.jpg")], ("name",)), annorect=_structs([two_points], RECT)),
        dict(
            image=_structs([dict(name="d.jpg")], ("name",)),  # annopoints without any point
            annorect=_structs(
                [{**two_points, "annopoints": _structs([dict(point=np.zeros((0, 0)))], ("point",))}], RECT
            ),
        ),
    ]
    cells = np.empty((4, 1), dtype=object)
    cells[:, 0] = [np.array([[2.0]]), np.zeros((0, 0)), np.array([[1.0]]), np.zeros((0, 0))]  # squeezed to numbers
    release = dict(annolist=_structs(entries, ("image", "annorect")), img_train=np.ones((1, 4)), single_person=cells)
    path = tmp_path / mat_format.MAT_FILE
    scipy.io.savemat(path, {"RELEASE": _structs([release], tuple(release))})
    squeezed = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)["RELEASE"]
    assert not isinstance(squeezed.annolist[0].annorect[0].annopoints.point, np.ndarray)  # the quirk is there
    assert not isinstance(squeezed.annolist[2].annorect, np.ndarray)

    report = BadInputReport("raise")
    images = mat_format.load_mat(path, report)
    assert [im.name for im in images] == ["a.jpg", "c.jpg", "d.jpg"]  # b.jpg: its only rectangle has no annopoints
    assert report.note_counts["rect_without_keypoints"] == 1
    assert not images[2].people[0].keypoints.any()  # no point: a person without labelled joint (builder: bad input)
    first, second = images[0].people
    want = np.zeros((16, 3))
    want[9] = (20.0, 30.0, 2.0)  # 1-based -> 0-based; '' = unknown visibility, counted as visible
    np.testing.assert_array_equal(first.keypoints, want)
    np.testing.assert_array_equal(first.head_box, [9.0, 10.0, 29.0, 34.0])
    np.testing.assert_array_equal(first.objpos, [49.0, 39.0])
    assert first.scale == 1.5 and first.in_group and not second.in_group  # single_person{1} = 2
    np.testing.assert_array_equal(second.keypoints[[0, 15]], [[4.5, 5.5, 1.0], [6.0, 7.0, 2.0]])
    (only,) = images[1].people
    assert not only.in_group and images[1].group_id is None and images[1].index == 2
