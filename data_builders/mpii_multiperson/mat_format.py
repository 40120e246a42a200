"""Reads the official MPII annotation file (mpii_human_pose_v1_u12_1.mat) with scipy.

RELEASE.annolist(i): image.name and annorect(r) with the head box x1 y1 x2 y2, objpos.x/.y, scale and
annopoints.point(k) (id, x, y, is_visible); RELEASE.img_train(i) = 1 for training images (the only
ones with keypoints); RELEASE.single_person{i}: 1-based indices of the image's single-person
rectangles. The other annotated rectangles of an image form its multi-person group ("groups of people
in close proximity", the people the MPII multi-person benchmark scores); the group id is the image's
0-based annolist index. Rectangles without annopoints are people MPII left unannotated: dropped,
noted; annopoints without any point make a person with no labelled joint (bad input, found by the
builder). The other fields of RELEASE (act, video_list, annolist frame_sec/vididx) are not read.
scipy's squeeze_me quirks handled here: a one-element struct array or cell comes back as the bare
element (one rectangle, one point, one single-person index), an empty one as an empty array, and
numbers as double, integer (uint8/uint16) or string ('1', '0', '' = unknown).
Messages name records as in Matlab: annolist(i).annorect(r), 1-based.
"""

from __future__ import annotations

import pathlib

import numpy as np
import scipy.io

from data_builders.mpii_multiperson.annotations import (
    MATLAB_OFFSET,
    ImageAnnotation,
    Person,
    keypoints_from_source,
)
from ltsh_jax.data.bad_input import BadInputReport
from ltsh_jax.data.schema import OCCLUDED, VISIBLE
from ltsh_jax.skeleton import NUM_MPII16

MAT_FILE = "mpii_human_pose_v1_u12_1.mat"


class _Bad(ValueError):
    """A malformed field; the caller adds where it is."""


def _as_list(value: object) -> list:
    """A squeezed Matlab struct array (one struct, an array of them, or an empty array) as a list."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [] if value is None else [value]


def _scalar(value: object, field: str) -> float | None:
    """A number from a squeezed Matlab value (number, 1-element array, numeric string); None if empty."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return None
        if value.size != 1:
            raise _Bad(f"field '{field}' must be a single number, got shape {value.shape}")
        value = value.item()
    if isinstance(value, str):
        if not value.strip():
            return None
        value = value.strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Bad(f"field '{field}' is not a number: {value!r}") from None
    if not np.isfinite(number):
        raise _Bad(f"field '{field}' is not finite: {number}")
    return number


def _field(struct: object, name: str) -> object:
    """The field's value, None when absent or empty."""
    value = getattr(struct, name, None)
    if isinstance(value, np.ndarray) and value.size == 0:
        return None
    return value


def _keypoints(annopoints: object) -> np.ndarray:
    joints = np.zeros((NUM_MPII16, 2), np.float64)
    visibility = np.zeros(NUM_MPII16, np.int64)
    for point in _as_list(_field(annopoints, "point")):
        joint = _scalar(_field(point, "id"), "id")
        if joint is None or joint != int(joint) or not 0 <= joint < NUM_MPII16:
            raise _Bad(f"point id must be an integer in [0, {NUM_MPII16}), got {joint}")
        joint = int(joint)
        if visibility[joint]:
            raise _Bad(f"joint {joint} is annotated twice")
        x, y = _scalar(_field(point, "x"), "x"), _scalar(_field(point, "y"), "y")
        if x is None or y is None:
            raise _Bad(f"joint {joint} has no x or y")
        visible = _scalar(_field(point, "is_visible"), "is_visible")
        if visible not in (None, 0.0, 1.0):
            raise _Bad(f"joint {joint}: is_visible must be 0 or 1, got {visible}")
        joints[joint] = (x, y)
        visibility[joint] = OCCLUDED if visible == 0.0 else VISIBLE  # unknown visibility counts as visible
    return keypoints_from_source(joints, visibility)


def _person(rect: object, where: str, in_group: bool) -> Person:
    keypoints = _keypoints(_field(rect, "annopoints"))
    box = [_scalar(_field(rect, f), f) for f in ("x1", "y1", "x2", "y2")]
    head_box = np.full(4, np.nan) if None in box else np.asarray(box, np.float64) - MATLAB_OFFSET
    objpos_struct = _field(rect, "objpos")
    objpos = [None, None] if objpos_struct is None else [_scalar(_field(objpos_struct, f), f) for f in "xy"]
    if None in objpos:
        raise _Bad("the rectangle has no objpos")
    scale = _scalar(_field(rect, "scale"), "scale")
    if scale is None or scale <= 0:
        raise _Bad(f"scale must be a positive number, got {scale}")
    return Person(where, keypoints, head_box, np.asarray(objpos, np.float64) - MATLAB_OFFSET, scale, in_group)


def _image_people(
    entry: object, index: int, name: str, singles: set[int], path: pathlib.Path, report: BadInputReport
) -> list[Person] | None:
    """The image's people, or None when a malformed rectangle makes the image unusable (reported)."""
    people = []
    for r, rect in enumerate(_as_list(_field(entry, "annorect")), start=1):
        where = f"{path} annolist({index + 1}).annorect({r}) (image {name})"
        if _field(rect, "annopoints") is None:
            report.note("rect_without_keypoints", f"{where}: no annopoints, person not annotated")
            continue
        try:
            people.append(_person(rect, where, in_group=r not in singles))
        except _Bad as e:
            report.problem("malformed_record", f"{where}: {e}; skipping image {name}")
            return None
    return people


def load_mat(path: pathlib.Path, report: BadInputReport) -> list[ImageAnnotation]:
    """Training images of the .mat with their annotated people, in annolist order."""
    try:
        release = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)["RELEASE"]
        annolist = _as_list(release.annolist)
        img_train = np.atleast_1d(np.asarray(release.img_train)).astype(np.int64)
        single_person = release.single_person
    except (OSError, ValueError, KeyError, AttributeError, TypeError, scipy.io.matlab.MatReadError) as e:
        raise ValueError(f"{path}: not a readable MPII annotation file ({type(e).__name__}: {e})") from None
    single_person = (
        list(single_person)
        if isinstance(single_person, np.ndarray) and single_person.dtype == object
        else [single_person]
    )
    if not len(annolist) == len(img_train) == len(single_person):
        raise ValueError(
            f"{path}: annolist ({len(annolist)}), img_train ({len(img_train)}) and single_person "
            f"({len(single_person)}) must have one entry per image"
        )
    images, seen = [], {}
    for index, entry in enumerate(annolist):
        if not img_train[index]:
            continue
        name = str(getattr(getattr(entry, "image", None), "name", "") or "")
        if not name:
            report.problem("malformed_record", f"{path} annolist({index + 1}): no image.name")
            continue
        if name in seen:
            report.problem(
                "duplicate_image", f"{path} annolist({index + 1}): image {name} also at annolist({seen[name]})"
            )
            continue
        seen[name] = index + 1
        singles = {int(s) for s in np.atleast_1d(np.asarray(single_person[index], np.float64)).ravel()}
        people = _image_people(entry, index, name, singles, path, report)
        if people is None:
            continue
        if not people:
            report.note("image_without_people", f"{path} annolist({index + 1}): image {name} has no annotated person")
            continue
        images.append(ImageAnnotation(name, index, people, where=f"{path} annolist({index + 1})"))
    return images
