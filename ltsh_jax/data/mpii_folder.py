"""Reads a folder of images with annotations in the common MPII JSON format.

The format (as used by several public pose toolboxes) is a JSON list of single-person records:
`image` (path relative to the folder), `center` [x, y], `scale` (person height / 200 px),
`joints` 16 x [x, y] in MPII-16 order, `joints_vis` 16 flags; missing joints are [-1, -1].
Records are grouped by image so that every person of an image is known when one of them is cropped
(group_records, shared with data_builders.mpii_multiperson), then checked against their images by
ltsh_jax.data.validation: the rules and the counted report of the builders. The folder may be a cloud URI
(`gs://bucket/mpii`, read through etils.epath: ltsh_jax.paths).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from etils import epath

from ltsh_jax import paths
from ltsh_jax.data import validation
from ltsh_jax.data.bad_input import BadInputReport
from ltsh_jax.data.user_paths import confined_path
from ltsh_jax.skeleton import NUM_MPII16

# MPII annotations are 1-based (Matlab); subtracting this gives 0-based pixel coordinates.
MATLAB_OFFSET = 1.0
MISSING_JOINT = -1.0  # MPII JSON marks a missing joint [-1, -1]

_FIELDS = ("image", "center", "scale", "joints", "joints_vis")


@dataclasses.dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image and its P annotated people (MPII-16 joints, image pixels, pixel centres at integers)."""

    image_path: epath.Path
    keypoints: np.ndarray  # float32 [P, 16, 2]
    labelled: np.ndarray  # bool [P, 16]
    centers: np.ndarray  # float32 [P, 2]
    scales: np.ndarray  # float32 [P], person height / 200 px

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class PersonEntry:
    """One parsed person record, values as in the file (1-based); `where` names it ("<file> record <i>")."""

    where: str
    joints: np.ndarray  # float64 [16, 2]
    labelled: np.ndarray  # bool [16]
    center: np.ndarray  # float64 [2]
    scale: float


def _find_annotation_file(directory: epath.Path, annotation_file: str | os.PathLike | None) -> epath.Path:
    if annotation_file:
        # An absolute path or a URI replaces the folder, a relative one is inside it.
        path = paths.as_path(annotation_file) if not paths.is_local(annotation_file) else directory / annotation_file
        if not path.is_file():
            raise FileNotFoundError(f"annotation file {path} does not exist")
        return path
    found = sorted(directory.glob("*.json"))
    if len(found) != 1:
        names = [p.name for p in found]
        raise ValueError(
            f"{directory}: expected exactly one *.json annotation file, found {len(found)} {names}; "
            "pass annotation_file to choose one"
        )
    return found[0]


def _array(record: dict, field: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    """The field as a finite float64 array of the given shape, or a ValueError naming where it is."""
    try:
        value = np.asarray(record[field], np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: field '{field}' is not numeric ({e})") from None
    if value.shape != shape:
        raise ValueError(f"{where}: field '{field}' must have shape {shape}, got {value.shape}")
    if not np.isfinite(value).all():
        raise ValueError(f"{where}: field '{field}' has NaN or infinite values")
    return value


def _image_name(record: dict, where: str) -> str:
    """The record's image path, with backslashes as separators; readers join it with user_paths.confined_path."""
    name = record["image"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: field 'image' must be a non-empty string, got {name!r}")
    return pathlib.PurePosixPath(name.replace("\\", "/")).as_posix()


def parse_record(record: object, where: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, float]:
    """One JSON person record -> (image path, joints float64 [16, 2], labelled bool [16], center [2], scale).

    Values as in the file (1-based, no coordinate shift); ValueError naming `where` and the field when malformed.
    """
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    for field in _FIELDS:
        if field not in record:
            raise ValueError(f"{where}: missing field '{field}'")
    name = _image_name(record, where)
    joints = _array(record, "joints", (NUM_MPII16, 2), where)
    vis = _array(record, "joints_vis", (NUM_MPII16,), where)
    center = _array(record, "center", (2,), where)
    scale = float(_array(record, "scale", (), where))
    if scale <= 0:
        raise ValueError(f"{where}: field 'scale' must be positive, got {scale}")
    labelled = (vis != 0) & ~np.all(joints == MISSING_JOINT, axis=-1)
    return name, joints, labelled, center, scale


def group_records(
    files: Sequence[tuple[os.PathLike, list]], report: BadInputReport
) -> list[tuple[int, str, list[PersonEntry]]]:
    """(position, image name, its people in file order) per image, sorted by name; position counts every name.

    A malformed record skips its whole image (problem "malformed_record"); a record repeating an earlier one
    (files such as trainval.json beside train.json) is dropped (note "duplicate_record").
    """
    people: dict[str, list[PersonEntry]] = {}
    bad: set[str] = set()
    seen: dict[tuple, str] = {}
    for path, records in files:
        for index, record in enumerate(records):
            where = f"{path} record {index}"
            try:
                name, joints, labelled, center, scale = parse_record(record, where)
            except ValueError as e:
                image = record.get("image") if isinstance(record, dict) else None
                image = image.replace("\\", "/") if isinstance(image, str) else None
                report.problem("malformed_record", f"{e}; skipping " + (f"image {image}" if image else "the record"))
                if image:
                    bad.add(image)
                continue
            key = (name, np.where(labelled[:, None], joints, 0).tobytes(), labelled.tobytes(), center.tobytes(), scale)
            if key in seen:
                report.note("duplicate_record", f"{where}: same person as {seen[key]}, dropped")
                continue
            seen[key] = where
            people.setdefault(name, []).append(PersonEntry(where, joints, labelled, center, scale))
    names = sorted(people.keys() | bad)
    return [(index, name, people[name]) for index, name in enumerate(names) if name in people and name not in bad]


def load_mpii_json(
    directory: str | os.PathLike,
    annotation_file: str | os.PathLike | None = None,
    report: BadInputReport | None = None,
    num_threads: int | None = None,
) -> list[ImageRecord]:
    """The usable records of the folder, one per image (sorted by image path), each with its people in file order.

    A joint is labelled when its `joints_vis` flag is non-zero and it is not [-1, -1]. The files hold MPII's
    1-based (Matlab) pixel coordinates; records hold 0-based ones (pixel centres at integers), as HRNet and
    MMPose load them. Bad records and images (malformed fields, names leaving the folder, missing or
    undecodable images, people without a labelled joint or with one far outside the image) go to `report`
    (default: stop at the first, naming file, record and field); a ValueError when none is left.
    """
    directory = paths.as_path(directory)
    if report is None:
        report = BadInputReport("raise", hint="load with BadInputReport('skip') to skip and count such input")
    if not directory.is_dir():
        raise FileNotFoundError(f"data folder {directory} does not exist")
    path = _find_annotation_file(directory, annotation_file)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: malformed JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of person records, got {type(data).__name__}")
    grouped = group_records([(path, data)], report)
    items = [
        validation.ImageToCheck(
            directory,
            name,
            people[0].where,
            np.stack([p.joints for p in people]) - MATLAB_OFFSET,
            np.stack([p.labelled for p in people]),
            [p.where for p in people],
        )
        for _, name, people in grouped
    ]
    sizes = validation.check_images(items, report, num_threads=num_threads, desc=f"checking {path.name}")
    records = [
        ImageRecord(
            image_path=confined_path(directory, name),
            keypoints=(np.stack([p.joints for p in people]) - MATLAB_OFFSET).astype(np.float32),
            labelled=np.stack([p.labelled for p in people]),
            centers=(np.stack([p.center for p in people]) - MATLAB_OFFSET).astype(np.float32),
            scales=np.asarray([p.scale for p in people], np.float32),
        )
        for (_, name, people), size in zip(grouped, sizes, strict=True)
        if size is not None
    ]
    if report.problems or report.notes:
        report.log_summary(str(path))
    if not records:
        counts = report.problem_counts
        first = f"; first: {report.problems[0][1]}" if report.problems else ""
        raise ValueError(f"{path}: no usable image: {len(data)} records, skipped as bad input {counts}{first}")
    return records
