"""Reads MPII annotations in the common JSON format (HRNet's train.json / valid.json, MMPose's files).

Each file is a list of single-person records (`image`, `center`, `scale`, `joints` 16 x [x, y],
`joints_vis`), parsed with ltsh_jax.data.mpii_folder.parse_record. Coordinates are MPII's 1-based values
(HRNet and MMPose subtract 1 when loading; so do we). A joint is labelled when its joints_vis flag is
non-zero and it is not MPII's missing marker [-1, -1]; the format has no occlusion flag, so labelled
joints count as visible. There are no head boxes (derived from head top and upper neck, see
annotations.head_box_from_joints) and no single-person lists: all people of an image with two or more
annotated people form its multi-person group, whose id is the image's position in the sorted list of
image names. A record repeating an earlier one (files such as trainval.json beside train.json) is
dropped and noted. Messages name records as "<file> record <0-based index>".
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from data_builders.bad_input import BadInputReport
from data_builders.mpii_multiperson.annotations import (
    MATLAB_OFFSET,
    ImageAnnotation,
    Person,
    head_box_from_joints,
    keypoints_from_source,
)
from ltsh_jax.data.mpii_folder import parse_record
from ltsh_jax.data.schema import NOT_LABELLED, VISIBLE

MISSING_JOINT = -1.0  # MPII JSON marks a missing joint [-1, -1]


def find_json_files(manual_dir: pathlib.Path, report: BadInputReport) -> list[tuple[pathlib.Path, list]]:
    """The top-level *.json files of manual_dir that hold a list of records, with their content, sorted by name.

    Other JSON files (e.g. COCO-style dicts) are not in this format: ignored, noted.
    """
    found = []
    for path in sorted(manual_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            report.problem("malformed_file", f"{path}: malformed JSON ({e}); skipping the file")
            continue
        if isinstance(data, list):
            found.append((path, data))
        else:
            report.note("ignored_file", f"{path}: a {type(data).__name__}, not a list of MPII person records")
    return found


def _person(record: dict, where: str) -> tuple[str, Person]:
    name, joints, _, center, scale = parse_record(record, where)
    flags = np.asarray(record["joints_vis"], np.float64)
    labelled = (flags != 0) & ~np.all(joints == MISSING_JOINT, axis=-1)
    keypoints = keypoints_from_source(joints, np.where(labelled, VISIBLE, NOT_LABELLED))
    person = Person(where, keypoints, head_box_from_joints(keypoints), center - MATLAB_OFFSET, scale, False)
    return name, person


def load_json(files: list[tuple[pathlib.Path, list]], report: BadInputReport) -> list[ImageAnnotation]:
    """Images with their people (file order within an image), sorted by image name."""
    people: dict[str, list[Person]] = {}
    bad: set[str] = set()
    seen: dict[tuple, str] = {}
    for path, records in files:
        for index, record in enumerate(records):
            where = f"{path} record {index}"
            try:
                name, person = _person(record, where)
            except ValueError as e:
                image = record.get("image") if isinstance(record, dict) else None
                image = image.replace("\\", "/") if isinstance(image, str) else None
                report.problem("malformed_record", f"{e}; skipping " + (f"image {image}" if image else "the record"))
                if image:
                    bad.add(image)
                continue
            key = (name, person.keypoints.tobytes(), person.objpos.tobytes(), person.scale)
            if key in seen:
                report.note("duplicate_record", f"{where}: same person as {seen[key]}, dropped")
                continue
            seen[key] = where
            people.setdefault(name, []).append(person)
    images = []
    for index, name in enumerate(sorted(people.keys() | bad)):
        if name in bad or name not in people:
            continue
        group = len(people[name]) >= 2
        members = [dataclasses.replace(p, in_group=group) for p in people[name]]
        images.append(ImageAnnotation(name, index, members, where=members[0].where))
    return images
