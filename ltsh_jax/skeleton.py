"""Keypoint layouts as plain data: parts, limbs, flip pairs and maps to and from MPII-16.

A `Skeleton` is the only place where a layout is described; targets, decoding, augmentation and
evaluation read it instead of hard-coding indices, so a new layout (COCO-17 below) is one more
instance of the same structure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

# MPII-16 joint ids, as stored in the MPII annotations and in every dataset of this project.
MPII16_NAMES: tuple[str, ...] = (
    "r_ankle",
    "r_knee",
    "r_hip",
    "l_hip",
    "l_knee",
    "l_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "r_wrist",
    "r_elbow",
    "r_shoulder",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
)
NUM_MPII16 = len(MPII16_NAMES)
MPII16_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))
# The seven columns of the MPII multi-person table; pelvis (6) and thorax (7) are not scored.
MPII16_EVAL_GROUPS: Mapping[str, tuple[int, ...]] = {
    "Head": (8, 9),
    "Shoulder": (12, 13),
    "Elbow": (11, 14),
    "Wrist": (10, 15),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
MPII16_SCORED: tuple[int, ...] = tuple(sorted(j for g in MPII16_EVAL_GROUPS.values() for j in g))


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """A keypoint layout.

    Attributes:
      name: short identifier, e.g. "cmu_mpi".
      part_names: one name per part, in channel order.
      limbs: part-index pairs (a, b); each limb gets two PAF channels (x, y) pointing from a to b.
      flip_pairs: (left, right) part pairs swapped by a horizontal flip.
      from_mpii16: for each part, the MPII-16 ids whose mean defines it, or () when MPII has no
        counterpart (such a part is never labelled when converting from MPII).
    """

    name: str
    part_names: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    from_mpii16: tuple[tuple[int, ...], ...]

    def __post_init__(self):
        n = len(self.part_names)
        if len(self.from_mpii16) != n:
            raise ValueError(f"{self.name}: from_mpii16 has {len(self.from_mpii16)} entries for {n} parts")
        for a, b in self.limbs + self.flip_pairs:
            if not (0 <= a < n and 0 <= b < n and a != b):
                raise ValueError(f"{self.name}: pair ({a}, {b}) is out of range for {n} parts")

    @property
    def num_parts(self) -> int:
        return len(self.part_names)

    @property
    def num_heatmaps(self) -> int:
        """Parts plus one background channel."""
        return self.num_parts + 1

    @property
    def num_limbs(self) -> int:
        return len(self.limbs)

    @property
    def num_pafs(self) -> int:
        return 2 * len(self.limbs)

    @property
    def flip_permutation(self) -> np.ndarray:
        """Index array p such that flipped_parts = parts[p]."""
        perm = np.arange(self.num_parts)
        for left, right in self.flip_pairs:
            perm[left], perm[right] = right, left
        return perm

    @property
    def to_mpii16(self) -> tuple[int | None, ...]:
        """For each part, the single MPII-16 id it equals, or None (derived or absent parts)."""
        return tuple(ids[0] if len(ids) == 1 else None for ids in self.from_mpii16)

    @property
    def eval_groups(self) -> dict[str, tuple[int, ...]]:
        """The MPII table columns in this skeleton's part indices (columns it lacks are dropped)."""
        back = {m: i for i, m in enumerate(self.to_mpii16) if m is not None}
        groups = {name: tuple(back[j] for j in ids if j in back) for name, ids in MPII16_EVAL_GROUPS.items()}
        return {name: ids for name, ids in groups.items() if ids}


def _check_last_axis(array: np.ndarray, size: int, what: str) -> None:
    if array.shape[-1] != size:
        raise ValueError(f"{what} must have {size} entries on its last axis, got shape {array.shape}")


def from_mpii16(skeleton: Skeleton, keypoints: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MPII-16 keypoints (..., 16, 2) and labelled flags (..., 16) -> the skeleton's parts.

    A derived part (the CMU chest = mean of thorax and pelvis) is labelled only when all of its
    sources are; unlabelled parts get coordinates 0.
    """
    keypoints = np.asarray(keypoints, np.float32)
    labelled = np.asarray(labelled).astype(bool)
    if keypoints.shape[-2:] != (NUM_MPII16, 2):
        raise ValueError(f"MPII-16 keypoints must have shape (..., 16, 2), got {keypoints.shape}")
    _check_last_axis(labelled, NUM_MPII16, "MPII-16 labelled flags")
    batch = keypoints.shape[:-2]
    out_xy = np.zeros(batch + (skeleton.num_parts, 2), np.float32)
    out_lab = np.zeros(batch + (skeleton.num_parts,), bool)
    for part, ids in enumerate(skeleton.from_mpii16):
        if not ids:
            continue
        ids = list(ids)
        ok = labelled[..., ids].all(axis=-1)
        out_lab[..., part] = ok
        out_xy[..., part, :] = np.where(ok[..., None], keypoints[..., ids, :].mean(axis=-2), 0.0)
    return out_xy, out_lab


def to_mpii16(skeleton: Skeleton, keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton parts (..., J, 2) with scores (..., J) -> MPII-16 (..., 16, 2) and scores (..., 16).

    MPII joints without a counterpart part get score 0 (absent), except that MPII thorax and pelvis
    are never recovered from a derived part such as the chest.
    """
    keypoints = np.asarray(keypoints, np.float32)
    scores = np.asarray(scores, np.float32)
    _check_last_axis(scores, skeleton.num_parts, f"{skeleton.name} scores")
    batch = keypoints.shape[:-2]
    out_xy = np.zeros(batch + (NUM_MPII16, 2), np.float32)
    out_score = np.zeros(batch + (NUM_MPII16,), np.float32)
    for part, mpii_id in enumerate(skeleton.to_mpii16):
        if mpii_id is not None:
            out_xy[..., mpii_id, :] = keypoints[..., part, :]
            out_score[..., mpii_id] = scores[..., part]
    return out_xy, out_score


# The CMU "MPI" layout of OpenPose's MPII model and of the paper's code.
CMU_MPI = Skeleton(
    name="cmu_mpi",
    part_names=(
        "head_top",
        "upper_neck",
        "r_shoulder",
        "r_elbow",
        "r_wrist",
        "l_shoulder",
        "l_elbow",
        "l_wrist",
        "r_hip",
        "r_knee",
        "r_ankle",
        "l_hip",
        "l_knee",
        "l_ankle",
        "chest",
    ),
    limbs=(
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 4),
        (1, 5),
        (5, 6),
        (6, 7),
        (1, 14),
        (14, 8),
        (8, 9),
        (9, 10),
        (14, 11),
        (11, 12),
        (12, 13),
    ),
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13)),
    from_mpii16=((9,), (8,), (12,), (11,), (10,), (13,), (14,), (15,), (2,), (1,), (0,), (3,), (4,), (5,), (7, 6)),
)

# COCO-17 as a second instance of the same structure (limbs: the COCO skeleton definition).
COCO17 = Skeleton(
    name="coco17",
    part_names=(
        "nose",
        "l_eye",
        "r_eye",
        "l_ear",
        "r_ear",
        "l_shoulder",
        "r_shoulder",
        "l_elbow",
        "r_elbow",
        "l_wrist",
        "r_wrist",
        "l_hip",
        "r_hip",
        "l_knee",
        "r_knee",
        "l_ankle",
        "r_ankle",
    ),
    limbs=(
        (15, 13),
        (13, 11),
        (16, 14),
        (14, 12),
        (11, 12),
        (5, 11),
        (6, 12),
        (5, 6),
        (5, 7),
        (6, 8),
        (7, 9),
        (8, 10),
        (1, 2),
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (3, 5),
        (4, 6),
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    from_mpii16=(
        (),
        (),
        (),
        (),
        (),
        (13,),
        (12,),
        (14,),
        (11,),
        (15,),
        (10,),
        (3,),
        (2,),
        (4,),
        (1,),
        (5,),
        (0,),
    ),
)

SKELETONS: Mapping[str, Skeleton] = {s.name: s for s in (CMU_MPI, COCO17)}
