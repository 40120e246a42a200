"""Reads MPII annotations in the common JSON format (HRNet's train.json / valid.json, MMPose's files).

Each file is a list of single-person records (`image`, `center`, `scale`, `joints` 16 x [x, y],
`joints_vis`), parsed with ltsh_jax.data.mpii_folder.parse_record. Coordinates are MPII's 1-based values
(HRNet and MMPose subtract 1 when loading; so do we). A joint is labelled when its joints_vis flag is
non-zero and it is not MPII's missing marker [-1, -1]; the format has no occlusion flag, so labelled
joints count as visible. There are no head boxes (derived from head top and upper neck, see
annotations.head_box_from_joints) and no single-person lists: all people of an image with two or more
annotated people form its multi-person group, whose id is the image's position in the sorted list of
image names. Records are grouped, and repeated ones (files such as trainval.json beside train.json)
dropped and noted, by ltsh_jax.data.mpii_folder.group_records, which the mpii_json training source shares.
Messages name records as "<file> record <0-based index>".
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from data_builders.mpii_multiperson.annotations import (
    MATLAB_OFFSET,
    ImageAnnotation,
    Person,
    head_box_from_joints,
    keypoints_from_source,
)
from ltsh_jax.data.bad_input import BadInputReport
from ltsh_jax.data.mpii_folder import PersonEntry, group_records
from ltsh_jax.data.schema import NOT_LABELLED, VISIBLE


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


def _person(entry: PersonEntry, in_group: bool) -> Person:
    keypoints = keypoints_from_source(entry.joints, np.where(entry.labelled, VISIBLE, NOT_LABELLED))
    objpos = entry.center - MATLAB_OFFSET
    return Person(entry.where, keypoints, head_box_from_joints(keypoints), objpos, entry.scale, in_group)


def load_json(files: list[tuple[pathlib.Path, list]], report: BadInputReport) -> list[ImageAnnotation]:
    """Images with their people (file order within an image), sorted by image name."""
    images = []
    for index, name, entries in group_records(files, report):
        members = [_person(e, in_group=len(entries) >= 2) for e in entries]
        images.append(ImageAnnotation(name, index, members, where=members[0].where))
    return images
