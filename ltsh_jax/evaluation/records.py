"""Evaluation records: the GT and predicted people of one image (or one MPII group) as arrays.

Coordinates are image pixels, joints in MPII-16 order. mpii_json_io reads them from the interchange
JSON, mpii_json_write writes them; groups, mpii_ap and coco_export work on them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ltsh_jax.skeleton import NUM_MPII16


def _check_shapes(record, trailing: dict[str, tuple[int, ...]]) -> None:
    """Every field of shape (N, *trailing[field]), N = the number of people, or a ValueError."""
    n = len(record.keypoints)
    for field, tail in trailing.items():
        got = np.shape(getattr(record, field))
        if got != (n, *tail):
            raise ValueError(f"image '{record.name}': {field} must have shape {(n, *tail)}, got {got}")


_J, _J2 = (NUM_MPII16,), (NUM_MPII16, 2)


@dataclasses.dataclass(frozen=True, eq=False)
class GroundTruthImage:
    """The annotated people of one image (image pixels, MPII-16 joints)."""

    name: str
    keypoints: np.ndarray  # float64 [P, 16, 2]
    present: np.ndarray  # bool [P, 16], joint annotated
    visible: np.ndarray  # bool [P, 16], "is_visible" (False where not present)
    head_boxes: np.ndarray  # float64 [P, 4], x1, y1, x2, y2
    groups: np.ndarray  # int64 [P], MPII multi-person group id, schema.NO_GROUP when none

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])

    def __post_init__(self):
        _check_shapes(self, {"keypoints": _J2, "present": _J, "visible": _J, "head_boxes": (4,), "groups": ()})


@dataclasses.dataclass(frozen=True, eq=False)
class PredictionImage:
    """The predicted people of one image."""

    name: str
    keypoints: np.ndarray  # float64 [Q, 16, 2]
    present: np.ndarray  # bool [Q, 16], joint predicted
    scores: np.ndarray  # float64 [Q, 16], per-joint score (0 where not present)
    person_scores: np.ndarray  # float64 [Q]

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])

    def __post_init__(self):
        _check_shapes(self, {"keypoints": _J2, "present": _J, "scores": _J, "person_scores": ()})


def empty_predictions(name: str) -> PredictionImage:
    """An image without predicted people."""
    return PredictionImage(
        name, np.zeros((0, NUM_MPII16, 2)), np.zeros((0, NUM_MPII16), bool), np.zeros((0, NUM_MPII16)), np.zeros(0)
    )
