"""MPII annotations as plain records, whatever the source format, and the checks against their image.

Both readers (official .mat, common JSON) produce ImageAnnotation records in this project's
convention: 0-based pixel coordinates (MPII's 1-based Matlab values minus 1), visibility codes of
data_builders.features, NaN head boxes where the source has none.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from ltsh_jax.data.mpii_folder import MATLAB_OFFSET
from ltsh_jax.data.schema import NOT_LABELLED
from ltsh_jax.skeleton import NUM_MPII16


@dataclasses.dataclass(frozen=True, eq=False)
class Person:
    """One annotated person; `where` names its source record in messages."""

    where: str
    keypoints: np.ndarray  # float64 [16, 3]: x, y (0-based px; 0, 0 when not labelled), v
    head_box: np.ndarray  # float64 [4]: x1, y1, x2, y2 (0-based px), NaN if unknown
    objpos: np.ndarray  # float64 [2] (0-based px)
    scale: float  # person height / 200 px
    in_group: bool  # member of the image's MPII multi-person group


@dataclasses.dataclass(eq=False)
class ImageAnnotation:
    """An image and its people; `index` (annolist index or sorted image position) is its multi-person group id."""

    name: str
    index: int
    people: list[Person]
    where: str  # the source record naming the image in messages
    height: int = 0  # set by usable_images
    width: int = 0

    @property
    def group_id(self) -> int | None:
        """The image's multi-person group id, or None when no person of it is in a group."""
        return self.index if any(p.in_group for p in self.people) else None


def keypoints_from_source(joints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """[16, 2] source (1-based) coordinates and [16] codes -> [16, 3] float64, 0-based, zeroed where unlabelled."""
    out = np.zeros((NUM_MPII16, 3), np.float64)
    labelled = visibility != NOT_LABELLED
    out[labelled, :2] = joints[labelled] - MATLAB_OFFSET
    out[:, 2] = visibility
    return out


def head_box_from_joints(keypoints: np.ndarray) -> np.ndarray:
    """Axis-aligned square around head top and upper neck, centred on their midpoint, side = their distance.

    For sources without head boxes (the JSON format). NaN when either joint is unlabelled.
    """
    top, neck = keypoints[9], keypoints[8]
    if top[2] == NOT_LABELLED or neck[2] == NOT_LABELLED:
        return np.full(4, np.nan)
    centre = (top[:2] + neck[:2]) / 2
    half = np.hypot(*(top[:2] - neck[:2])) / 2
    return np.concatenate([centre - half, centre + half])


def draw_validation_groups(group_ids: list[int], requested: int, seed: int) -> tuple[list[int], str | None]:
    """The validation groups: `requested` of the sorted ids, drawn with np.random.default_rng(seed).

    When that would leave no multi-person group for training (small inputs: dummy data, samples),
    half of the groups (rounded down) are drawn instead, and the second value says so.
    """
    ids = sorted(set(group_ids))
    count = requested if requested < len(ids) else len(ids) // 2
    note = None
    if count != requested:
        note = f"only {len(ids)} multi-person groups: {count} drawn for validation instead of {requested}"
        note += "; no validation split" if count == 0 else ""
    chosen = np.random.default_rng(seed).choice(np.asarray(ids, np.int64), size=count, replace=False)
    return sorted(int(g) for g in chosen), note


def read_validation_names(path: pathlib.Path) -> set[str]:
    """The image names (file names, no folders) of a validation split file; ValueError naming the file otherwise.

    Two formats: the paper's own annotation JSON (`{"root": [...]}` or a list of per-person records with
    `img_paths` and `isValidation`, as its code reads them in `tf_pose/pose_dataset_personLevel_minDist.py`:
    validation where int(isValidation) == 1), or text with one image name per line (`#` starts a comment).
    """
    text = path.read_text()
    if path.suffix.lower() != ".json":
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return {pathlib.PurePosixPath(line.replace("\\", "/")).name for line in lines if line}
    try:
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    records = records.get("root") if isinstance(records, dict) else records
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a list of records or {{'root': [...]}} (the paper's annotation JSON)")
    names = set()
    for i, record in enumerate(records):
        if not isinstance(record, dict) or "img_paths" not in record or "isValidation" not in record:
            raise ValueError(f"{path} record {i}: needs the fields 'img_paths' and 'isValidation'")
        if int(record["isValidation"]) == 1:
            names.add(pathlib.PurePosixPath(str(record["img_paths"]).replace("\\", "/")).name)
    return names


def groups_named(images: list[ImageAnnotation], names: set[str]) -> tuple[list[int], str | None]:
    """The multi-person groups of the images named in a split file, and a note on names it has that are not
    usable multi-person images here (not annotated, not in a group, or skipped as bad input)."""
    chosen = sorted({im.group_id for im in images if im.group_id is not None and _file_name(im.name) in names})
    found = {_file_name(im.name) for im in images if im.group_id is not None}
    missing = sorted(names - found)
    note = None
    if missing:
        note = (
            f"{len(missing)} of the split file's {len(names)} images are no multi-person image here, e.g. {missing[:3]}"
        )
    return chosen, note


def _file_name(name: str) -> str:
    return pathlib.PurePosixPath(name.replace("\\", "/")).name
