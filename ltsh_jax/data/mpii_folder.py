"""Reads a folder of images with annotations in the common MPII JSON format.

The format (as used by several public pose toolboxes) is a JSON list of single-person records:
`image` (path relative to the folder), `center` [x, y], `scale` (person height / 200 px),
`joints` 16 x [x, y] in MPII-16 order, `joints_vis` 16 flags; missing joints are [-1, -1].
Records are grouped by image so that every person of an image is known when one of them is cropped.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from ltsh_jax.data.user_paths import confined_path
from ltsh_jax.skeleton import NUM_MPII16

# MPII annotations are 1-based (Matlab); subtracting this gives 0-based pixel coordinates.
MATLAB_OFFSET = 1.0

_FIELDS = ("image", "center", "scale", "joints", "joints_vis")


@dataclasses.dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image and its P annotated people (MPII-16 joints, image pixels, pixel centres at integers)."""

    image_path: pathlib.Path
    keypoints: np.ndarray  # float32 [P, 16, 2]
    labelled: np.ndarray  # bool [P, 16]
    centers: np.ndarray  # float32 [P, 2]
    scales: np.ndarray  # float32 [P], person height / 200 px

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])


def _find_annotation_file(directory: pathlib.Path, annotation_file: str | pathlib.Path | None) -> pathlib.Path:
    if annotation_file:
        path = directory / annotation_file  # an absolute annotation_file replaces the folder
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
    labelled = (vis != 0) & (joints >= 0).all(axis=-1)
    return name, joints, labelled, center, scale


def load_mpii_json(
    directory: str | pathlib.Path, annotation_file: str | pathlib.Path | None = None
) -> list[ImageRecord]:
    """Records of the folder, one per image (sorted by image path), each with all its people in file order.

    A joint is labelled when its `joints_vis` flag is non-zero and neither coordinate is negative
    (MPII marks missing joints [-1, -1]). The files hold MPII's 1-based (Matlab) pixel coordinates;
    records hold 0-based ones (pixel centres at integers), as HRNet and MMPose load them. Malformed
    input raises ValueError / FileNotFoundError naming the file, the record index and the field.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"data folder {directory} does not exist")
    path = _find_annotation_file(directory, annotation_file)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: malformed JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of person records, got {type(data).__name__}")
    people: dict[str, list] = {}
    for index, record in enumerate(data):
        where = f"{path} record {index}"
        name, joints, labelled, center, scale = parse_record(record, where)
        if name not in people:
            image_file = confined_path(directory, name, f"{where}: field 'image'")
            if not image_file.is_file():
                raise FileNotFoundError(f"{where}: image file {image_file} does not exist")
            people[name] = []
        people[name].append((joints, labelled, center, scale))
    records = []
    for name in sorted(people):
        joints, labelled, centers, scales = zip(*people[name], strict=True)
        records.append(
            ImageRecord(
                image_path=directory / name,
                keypoints=(np.stack(joints) - MATLAB_OFFSET).astype(np.float32),
                labelled=np.stack(labelled),
                centers=(np.stack(centers) - MATLAB_OFFSET).astype(np.float32),
                scales=np.asarray(scales, np.float32),
            )
        )
    return records
