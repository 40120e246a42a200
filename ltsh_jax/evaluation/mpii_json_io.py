"""Reads the MPII multi-person interchange JSON (docs/reference.md) into plain arrays.

Format: `{"annolist": [{"image": [{"name": N}], "annorect": [{"x1", "y1", "x2", "y2" (GT head box),
"score" (prediction), "group" (GT, optional), "annopoints": [{"point": [{"id": [k], "x": [..],
"y": [..], "score": [..], "is_visible": [..]}]}]}]}]}` with joint ids in MPII-16 numbering
(written by mpii_json_write).

Tolerated variants: scalars instead of 1-element lists, a dict instead of a 1-element list
("image", "annorect", "annopoints", "point"), a bare list instead of `{"annolist": ...}`, a missing
"annopoints" (no joints), "image" as a plain string. Missing "is_visible" means visible. A predicted
joint without "score" takes its person's "score"; a person without "score" gets the mean of its
joint scores. "group" (int) is this project's field for MPII multi-person groups: the group id of a
GT person within its image; people without it have group -1. Every other problem raises a
ValueError naming the file, the image (index and name), the person index and the joint id.

The arrays are the dataclasses of records.py.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Sequence

import numpy as np

from ltsh_jax.data.schema import NO_GROUP
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage, empty_predictions
from ltsh_jax.skeleton import NUM_MPII16


class _Bad(ValueError):
    """A bad value; the caller adds where it is."""


def _one(value: object, field: str) -> object:
    """A scalar given as itself or as a 1-element list."""
    if type(value) is list:
        if len(value) != 1:
            raise _Bad(f"field '{field}' must be a scalar or a 1-element list, got {value!r}")
        return value[0]
    return value


def _number(value: object, field: str) -> float:
    if type(value) is list and len(value) == 1:
        value = value[0]
    if (type(value) is float or type(value) is int) and math.isfinite(value):
        return float(value)  # the common case, checked first: files hold hundreds of thousands of these
    value = _one(value, field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"field '{field}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise _Bad(f"field '{field}' is NaN or infinite")
    return float(value)


def _flag(value: object, field: str) -> bool:
    if type(value) is list and not value:
        return True  # an empty "is_visible" carries no information: visible
    value = _one(value, field)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip() == "1"
    if isinstance(value, bool) or (isinstance(value, int | float) and value in (0, 1)):
        return bool(value)
    raise _Bad(f"field '{field}' must be 0/1 or true/false, got {value!r}")


def _at(where: str, fn, *args):
    """fn(*args), a _Bad from it prefixed with `where`."""
    try:
        return fn(*args)
    except _Bad as e:
        raise ValueError(f"{where}: {e}") from None


def _as_list(value: object, field: str) -> list:
    """A list of objects given as a list, a single dict, or null."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise _Bad(f"field '{field}' must be a list or an object, got {type(value).__name__}")
    return value


def _image_name(entry: dict, where: str) -> str:
    image = entry.get("image")
    if isinstance(image, list) and len(image) == 1:
        image = image[0]
    if isinstance(image, dict):
        image = image.get("name")
    if isinstance(image, list) and len(image) == 1:
        image = image[0]
    if not isinstance(image, str) or not image:
        raise ValueError(f"{where}: missing or invalid image name (field 'image': [{{'name': ...}}])")
    return image


def _points(rect: dict) -> list:
    points = []
    for ap in _as_list(rect.get("annopoints"), "annopoints"):
        if not isinstance(ap, dict):
            raise _Bad(f"'annopoints' entries must be objects, got {type(ap).__name__}")
        points += _as_list(ap.get("point"), "annopoints.point")
    return points


def _joint_id(point: object, where: str) -> int:
    if not isinstance(point, dict) or "id" not in point:
        raise ValueError(f"{where}: a point must be an object with an 'id', got {point!r}")
    k = _at(where, _one, point["id"], "id")
    if isinstance(k, bool) or not isinstance(k, int | float) or k != int(k) or not 0 <= k < NUM_MPII16:
        raise ValueError(f"{where}, joint id {k!r}: joint ids must be integers in [0, {NUM_MPII16})")
    return int(k)


def _parse_person(rect: object, where: str, prediction: bool):
    """One annorect -> (xy [16,2], present [16], visible [16], scores [16] with NaN = none given)."""
    if not isinstance(rect, dict):
        raise ValueError(f"{where}: a person (annorect entry) must be an object, got {type(rect).__name__}")
    xy = np.zeros((NUM_MPII16, 2))
    present = np.zeros(NUM_MPII16, bool)
    visible = np.zeros(NUM_MPII16, bool)
    scores = np.full(NUM_MPII16, np.nan)
    for point in _at(where, _points, rect):
        k = _joint_id(point, where)
        try:
            if present[k]:
                raise _Bad("the joint is given twice")
            if "x" not in point or "y" not in point:
                raise _Bad("missing 'x' or 'y'")
            xy[k] = _number(point["x"], "x"), _number(point["y"], "y")
            present[k] = True
            visible[k] = _flag(point.get("is_visible", []), "is_visible")
            if prediction and "score" in point:
                scores[k] = _number(point["score"], "score")
        except _Bad as e:
            raise ValueError(f"{where}, joint id {k}: {e}") from None
    return xy, present, visible, scores


def _annolist(data: object, source: str) -> list:
    if isinstance(data, dict):
        if "annolist" not in data:
            raise ValueError(f"{source}: expected an object with an 'annolist' field (or a list of images)")
        data = data["annolist"]
    return _at(source, _as_list, data, "annolist")


def _entries(data: object, source: str):
    """Yields (index, name, where, people) per image, refusing duplicate image names."""
    seen: dict[str, int] = {}
    for i, entry in enumerate(_annolist(data, source)):
        where = f"{source}: image {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: an annolist entry must be an object, got {type(entry).__name__}")
        name = _image_name(entry, where)
        where = f"{source}: image {i} ('{name}')"
        if name in seen:
            raise ValueError(f"{where}: the image is listed twice (first as image {seen[name]})")
        seen[name] = i
        yield name, where, _at(where, _as_list, entry.get("annorect"), "annorect")


def parse_ground_truth(data: object, source: str = "<ground truth>") -> list[GroundTruthImage]:
    """Decoded JSON (dict or list) -> one GroundTruthImage per annolist entry, in file order."""
    images = []
    for name, where, rects in _entries(data, source):
        n = len(rects)
        kp, pres, vis = np.zeros((n, NUM_MPII16, 2)), np.zeros((n, NUM_MPII16), bool), np.zeros((n, NUM_MPII16), bool)
        boxes, groups = np.zeros((n, 4)), np.full(n, NO_GROUP, np.int64)
        for r, rect in enumerate(rects):
            at = f"{where}, person {r}"
            kp[r], pres[r], vis[r], _ = _parse_person(rect, at, prediction=False)
            missing = [f for f in ("x1", "y1", "x2", "y2") if f not in rect]
            if missing:
                raise ValueError(f"{at}: GT person without a head box (missing {', '.join(missing)})")
            boxes[r] = [_at(at, _number, rect[f], f) for f in ("x1", "y1", "x2", "y2")]
            if np.hypot(boxes[r, 2] - boxes[r, 0], boxes[r, 3] - boxes[r, 1]) <= 0:
                raise ValueError(f"{at}: the head box has zero size")
            if "group" in rect:
                g = _at(at, _number, rect["group"], "group")
                if g != int(g) or g < 0:
                    raise ValueError(f"{at}: field 'group' must be a non-negative integer, got {g}")
                groups[r] = int(g)
        images.append(GroundTruthImage(name, kp, pres, vis, boxes, groups))
    return images


def parse_predictions(data: object, source: str = "<predictions>") -> list[PredictionImage]:
    """Decoded JSON (dict or list) -> one PredictionImage per annolist entry, in file order."""
    images = []
    for name, where, rects in _entries(data, source):
        n = len(rects)
        kp, pres, scores = np.zeros((n, NUM_MPII16, 2)), np.zeros((n, NUM_MPII16), bool), np.zeros((n, NUM_MPII16))
        person = np.zeros(n)
        for r, rect in enumerate(rects):
            at = f"{where}, person {r}"
            kp[r], pres[r], _, s = _parse_person(rect, at, prediction=True)
            has_person_score = "score" in rect
            if has_person_score:
                person[r] = _at(at, _number, rect["score"], "score")
            no_score = pres[r] & np.isnan(s)
            if no_score.any():
                if not has_person_score:
                    k = int(np.flatnonzero(no_score)[0])
                    raise ValueError(f"{at}, joint id {k}: no 'score' for the joint nor for the person")
                s[no_score] = person[r]
            s[~pres[r]] = 0.0
            scores[r] = s
            if not has_person_score:
                person[r] = s[pres[r]].mean() if pres[r].any() else 0.0
        images.append(PredictionImage(name, kp, pres, scores, person))
    return images


def _read_json(path: str | pathlib.Path) -> object:
    path = pathlib.Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def load_ground_truth(path: str | pathlib.Path) -> list[GroundTruthImage]:
    """Reads a GT annolist JSON file."""
    return parse_ground_truth(_read_json(path), str(path))


def load_predictions(path: str | pathlib.Path) -> list[PredictionImage]:
    """Reads a prediction annolist JSON file."""
    return parse_predictions(_read_json(path), str(path))


def align_predictions(
    ground_truth: Sequence[GroundTruthImage], predictions: Sequence[PredictionImage], source: str = "<predictions>"
) -> list[PredictionImage]:
    """Predictions reordered to follow `ground_truth` by image name; GT images without any get none.

    A prediction for an image that is not in the GT raises a ValueError naming it.
    """
    by_name = {p.name: p for p in predictions}
    known = {g.name for g in ground_truth}
    for i, p in enumerate(predictions):
        if p.name not in known:
            raise ValueError(f"{source}: image {i} ('{p.name}'): a prediction for an image that is not in the GT")
    return [by_name[g.name] if g.name in by_name else empty_predictions(g.name) for g in ground_truth]
