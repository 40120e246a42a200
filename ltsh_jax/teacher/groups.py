"""Groups of synthetic person samples for the teacher: camera pitch "C", minimal distance "mD", or both.

Bin rules (docs/reference.md, paper section 4); a sample's bin is np.digitize over the inner edges, so
the end bins are open (values beyond them fall into the first or last bin):
  C   the paper's "linearly over [min(X) + Var(X), max(X) - Var(X))", X = the camera pitch of every
      synthetic sample in degrees, read as the reference's tf_pose/groupBoundaries.npy shows it
      (DavHoffmann/LearningToTrainWithSyntheticHumans; applied in pose_dataset_personLevel_minDist.py
      with np.digitize(x, means[0:-1])): Var = (max - min) / num_bins, num_bins values
      linspace(min + Var, max - Var), the first num_bins - 1 of them the inner edges. (The file's
      camera_angle entry: Var 3.659 deg, values 3.682 .. 32.952 for pitch over [0.023, 36.611].)
  mD  num_bins bins spaced linearly over [0, 640) px (person to its nearest other person).

Joint grouping (beyond the paper, its stated limitation): the groups are the cells of the product of
the per-characteristic binnings, group = c * num_bins_mD + m for "C+mD" (row-major over the keys in
the order given). A product keeps each cell's meaning readable ("steep camera AND crowded") and the
teacher can still learn a marginal preference, at the cost of more (and some empty) groups.

Empty groups, and groups smaller than `min_size` (config.teacher.min_group_size; by default the
synthetic slots of one batch, so that a drawn group fills them without repeating a sample), are kept
(group ids stay stable) and reported by `Grouping.mask`: the teacher masks their logits, never draws
them and never penalises them. The paper's code treats a group with no more samples than a batch
(32) as empty (DavHoffmann/LearningToTrainWithSyntheticHumans tf_pose/train_with_adversarial_teacher.py,
`minimalNrOfSamples`, `check_if_empty`), and redraws after penalising the teacher for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ltsh_jax.data.sampling import PersonIndex

MAX_DISTANCE = 640.0  # px: upper end of the mD interval (the synthetic images are 640 x 640)
KEYS = ("C", "mD")


@dataclasses.dataclass(frozen=True)
class Grouping:
    """Groups over the synthetic samples: members (index lists into the PersonIndex), sizes and edges."""

    name: str
    members: tuple[np.ndarray, ...]  # int64 index arrays, one per group (some may be empty)
    edges: dict[str, np.ndarray]  # key -> float64 [num_bins + 1] bin edges
    min_size: int = 1  # groups with fewer samples are never drawn

    @property
    def num_groups(self) -> int:
        return len(self.members)

    @property
    def sizes(self) -> np.ndarray:
        """int64 [G]: samples per group."""
        return np.array([len(m) for m in self.members], np.int64)

    @property
    def mask(self) -> np.ndarray:
        """bool [G]: the group has at least min_size samples (and at least one): it may be chosen."""
        return self.sizes >= max(self.min_size, 1)


def assign_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """int64 bin of each value: np.digitize over the inner edges edges[1:-1] (bin i holds edges[i] <= x <
    edges[i + 1]; the end bins are open, so values beyond the outer edges fall into them)."""
    return np.digitize(np.asarray(values, np.float64), np.asarray(edges, np.float64)[1:-1]).astype(np.int64)


def _values(index: PersonIndex, key: str) -> np.ndarray:
    """The per-sample values of a grouping key; ValueError when the dataset lacks them."""
    if key == "C":
        values, field = index.camera_pitch.astype(np.float64), "camera_pitch"
    elif key == "mD":
        values, field = index.min_distance.astype(np.float64), "min_distance"
    else:
        raise ValueError(f"unknown grouping key {key!r}: use one of {KEYS}")
    missing = ~np.isfinite(values) & ~np.isposinf(values)
    if missing.all():
        raise ValueError(f"grouping {key!r} needs {field}, but it is missing (NaN) for all {len(values)} "
                         "synthetic samples: this dataset does not record it")  # fmt: skip
    if missing.any():
        raise ValueError(f"grouping {key!r}: {field} is NaN for {int(missing.sum())} of {len(values)} "
                         "synthetic samples")  # fmt: skip
    return values


def bin_edges(index: PersonIndex, key: str, num_bins: int) -> np.ndarray:
    """float64 [num_bins + 1]: the bin edges of `key` over the samples of `index` (rules in the module doc);
    for C the outer edges are the smallest and largest pitch."""
    values = _values(index, key)
    if key == "mD":
        return np.linspace(0.0, MAX_DISTANCE, num_bins + 1)
    low, high = float(values.min()), float(values.max())
    if not high > low:
        raise ValueError(f"grouping 'C': every synthetic sample has camera pitch {low:.3g} deg: nothing to group by")
    spread = (high - low) / num_bins  # the reference's "Var"
    inner = np.linspace(low + spread, high - spread, num_bins)[:-1]
    return np.concatenate([[low], inner, [high]])


def parse_grouping(name: str) -> tuple[str, ...]:
    """'C' -> ('C',), 'C+mD' -> ('C', 'mD'); ValueError on unknown or repeated keys."""
    keys = tuple(k.strip() for k in name.split("+"))
    if not keys or any(k not in KEYS for k in keys) or len(set(keys)) != len(keys):
        raise ValueError(f"config.teacher.grouping={name!r}: use 'C', 'mD' or a '+'-joined set of them")
    return keys


def make_grouping(index: PersonIndex, name: str, num_bins: int | Sequence[int], min_size: int = 1) -> Grouping:
    """Groups of the samples of `index` by `name` ('C', 'mD', 'C+mD'), `num_bins` bins per key; groups
    with fewer than `min_size` samples are masked.

    ValueError when a key's values are missing, or when fewer than two groups have min_size samples.
    """
    keys = parse_grouping(name)
    bins = [int(num_bins)] * len(keys) if np.ndim(num_bins) == 0 else [int(b) for b in num_bins]
    if len(bins) != len(keys) or any(b < 1 for b in bins):
        raise ValueError(f"config.teacher.num_groups={num_bins!r}: need a positive bin count per key of {keys}")
    if not len(index):
        raise ValueError("no synthetic samples to group")
    edges = {k: bin_edges(index, k, b) for k, b in zip(keys, bins, strict=True)}
    cell = np.zeros(len(index), np.int64)
    for key, b in zip(keys, bins, strict=True):
        cell = cell * b + assign_bins(_values(index, key), edges[key])
    members = tuple(np.flatnonzero(cell == g).astype(np.int64) for g in range(int(np.prod(bins))))
    grouping = Grouping(name=name, members=members, edges=edges, min_size=int(min_size))
    if grouping.mask.sum() < 2:
        raise ValueError(f"grouping {name!r} with {bins} bins leaves {int(grouping.mask.sum())} group(s) of at least "
                         f"{max(int(min_size), 1)} samples over {len(index)} synthetic samples; the teacher needs at "
                         "least two (config.teacher.min_group_size, num_groups)")  # fmt: skip
    return grouping


def describe(grouping: Grouping) -> str:
    """One line per group: id, size and its bin ranges, for the log."""
    keys = parse_grouping(grouping.name)
    counts = [len(grouping.edges[k]) - 1 for k in keys]
    masked = np.flatnonzero(~grouping.mask).tolist()
    lines = [f"teacher grouping {grouping.name!r}: {grouping.num_groups} groups, {int(grouping.mask.sum())} drawable, "
             f"{int(grouping.sizes.sum())} samples; groups under {max(grouping.min_size, 1)} samples are never drawn"
             + (f": {masked}" if masked else "")]  # fmt: skip
    for g, size in enumerate(grouping.sizes):
        cells = np.unravel_index(g, counts)
        pairs = zip(keys, cells, strict=True)
        ranges = ", ".join(f"{k} [{grouping.edges[k][c]:.4g}, {grouping.edges[k][c + 1]:.4g})" for k, c in pairs)
        note = "" if grouping.mask[g] else (" (empty)" if size == 0 else " (too small: never drawn)")
        lines.append(f"  group {g}: {int(size)} samples{note}, {ranges}")
    return "\n".join(lines)
