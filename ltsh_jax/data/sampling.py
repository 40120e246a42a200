"""Which person sample fills each slot of a global batch: a pure function of (seed, step, active group).

A sample is one annotated person of a source (an image with 5 people gives 5 samples). Real slots
walk epoch-wise permutations of the real samples (every sample once per epoch); synthetic slots are
drawn uniformly, with replacement, from the samples of the group active at that step. The only
state is the group schedule (which group from which step): small, JSON, saved with checkpoints.
"""

from __future__ import annotations

import dataclasses
import fractions
import hashlib
from collections.abc import Sequence

import numpy as np

from ltsh_jax.data.sources import PeopleRecord

# Last entry of the synthetic draw's seed: no global slot index reaches it, so no augmentation
# generator ([seed, step, slot]) shares its stream.
_SYNTH_TAG = 2**31 - 1


PEOPLE_CHOICES = ("all", "synthetic", "real")
# A synthetic person is a crop centre only with at least this share of its joints inside the image.
MIN_SYNTHETIC_INSIDE = 0.5


def crop_centres(record: PeopleRecord) -> np.ndarray:
    """bool [P]: the people of `record` a crop may be centred on.

    Every person with a labelled joint, except synthetic people who are fully occluded (no visible
    joint) or mostly outside the image (fewer than MIN_SYNTHETIC_INSIDE of their joints inside it;
    rendered joints outside the image are stored unlabelled, ltsh_jax/synth/labels.py). The paper's
    code skips such people as samples (DavHoffmann/LearningToTrainWithSyntheticHumans
    tf_pose/pose_dataset_personLevel_minDist.py: `visibility_person == 0`, `cropped_person == 1`, or the
    centre outside the image); they stay in the record, so other people's crops still label them.
    """
    labelled = np.asarray(record.labelled, bool)
    visible = labelled if record.visible is None else np.asarray(record.visible, bool) & labelled
    synthetic_ok = visible.any(axis=1) & (labelled.mean(axis=1) >= MIN_SYNTHETIC_INSIDE)
    return labelled.any(axis=1) & (~np.asarray(record.is_synthetic, bool) | synthetic_ok)


@dataclasses.dataclass(frozen=True, eq=False)
class PersonIndex:
    """The samples of a source (record and person index) with the per-person values groups are made of."""

    record: np.ndarray  # int64 [N]
    person: np.ndarray  # int64 [N]
    is_synthetic: np.ndarray  # bool [N], the centred person is a rendered human
    min_distance: np.ndarray  # float32 [N]
    camera_pitch: np.ndarray  # float32 [N], the image's camera pitch (NaN for photos)

    @classmethod
    def build(cls, annotations: Sequence[PeopleRecord], people: str = "all") -> PersonIndex:
        """The people a crop may be centred on (`crop_centres`): all of them ('all'), only the synthetic ones
        ('synthetic'), or only the real ones ('real': D_M and D_Style, whose samples are their real people,
        paper section 5.1)."""
        if people not in PEOPLE_CHOICES:
            raise ValueError(f"people must be one of {PEOPLE_CHOICES}, got {people!r}")
        rows = []
        for i, r in enumerate(annotations):
            wanted = {"all": True, "synthetic": r.is_synthetic, "real": ~r.is_synthetic}[people]
            keep = crop_centres(r) & wanted
            for p in np.flatnonzero(keep):
                rows.append((i, p, r.is_synthetic[p], r.min_distance[p], r.camera_pitch))
        if not rows:
            raise ValueError(f"no annotated {'' if people == 'all' else people + ' '}people in "
                             f"{len(annotations)} image records")  # fmt: skip
        record, person, synthetic, distance, pitch = zip(*rows, strict=True)
        return cls(
            record=np.asarray(record, np.int64),
            person=np.asarray(person, np.int64),
            is_synthetic=np.asarray(synthetic, bool),
            min_distance=np.asarray(distance, np.float32),
            camera_pitch=np.asarray(pitch, np.float32),
        )

    def __len__(self) -> int:
        return len(self.record)


def real_slots(batch_size: int, real_fraction: float) -> np.ndarray:
    """bool [batch_size]: which global slots are real, spread evenly (floor(batch_size * fraction) of them).

    Slot g is real iff floor((g + 1) f) > floor(g f): with f = 0.5, real and synthetic alternate, so
    every process's contiguous slice of an even size holds exactly half of each.
    """
    if not 0.0 <= real_fraction <= 1.0:
        raise ValueError(f"real_fraction must lie in [0, 1], got {real_fraction}")
    f = fractions.Fraction(real_fraction).limit_denominator(10**6)
    g = np.arange(batch_size + 1)
    counts = (g * f.numerator) // f.denominator
    return np.diff(counts) > 0


def sample_indices(num_samples: int, positions: np.ndarray, seed: int) -> np.ndarray:
    """Sample index at each position of the real stream: epoch-wise permutations, every sample once per epoch."""
    epochs, offsets = np.divmod(np.asarray(positions, np.int64), num_samples)
    out = np.empty_like(offsets)
    for epoch in np.unique(epochs):
        order = np.random.default_rng([seed, int(epoch)]).permutation(num_samples)
        here = epochs == epoch
        out[here] = order[offsets[here]]
    return out


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """This process's slots of one global batch: global slot, synthetic or not, sample index in its source."""

    slots: np.ndarray  # int64 [b], global slot positions (augmentation seeds)
    synthetic: np.ndarray  # bool [b]
    samples: np.ndarray  # int64 [b], index into the real or the synthetic PersonIndex


def plan_step(
    step: int,
    *,
    seed: int,
    batch_size: int,
    real_fraction: float,
    num_real: int,
    synthetic_pool: np.ndarray | None,
    rows: Sequence[int] | None = None,
) -> StepPlan:
    """The samples of this process's rows of global batch `step`.

    synthetic_pool: indices (into the synthetic PersonIndex) of the active group; None when there is
    no synthetic source (every slot is then real). rows: the global slots this process makes, ascending
    (`ltsh_jax.sharding.process_rows`); None: all of them.
    """
    if step < 0 or seed < 0:
        raise ValueError(f"step and seed must be >= 0, got step={step}, seed={seed}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mine = np.arange(batch_size, dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    if mine.ndim != 1 or not len(mine) or np.any(np.diff(mine) <= 0) or mine[0] < 0 or mine[-1] >= batch_size:
        raise ValueError(f"rows must be ascending distinct slots in [0, {batch_size}), got {mine.tolist()}")
    real = real_slots(batch_size, 1.0 if synthetic_pool is None else real_fraction)
    n_real = int(real.sum())
    rank = np.where(real, np.cumsum(real) - 1, np.cumsum(~real) - 1)  # index among slots of the same kind
    samples = np.zeros(batch_size, np.int64)
    if n_real:
        samples[real] = sample_indices(num_real, step * n_real + rank[real], seed)
    if n_real < batch_size:
        if synthetic_pool is None or not len(synthetic_pool):
            raise ValueError(f"step {step}: the active synthetic group has no samples")
        draws = np.random.default_rng([seed, step, _SYNTH_TAG]).integers(len(synthetic_pool), size=batch_size - n_real)
        samples[~real] = np.asarray(synthetic_pool, np.int64)[draws]
    return StepPlan(slots=mine, synthetic=~real[mine], samples=samples[mine])


class GroupSchedule:
    """Which synthetic group is active from which step: sorted [(from_step, group)], group None = all samples."""

    def __init__(self, entries: Sequence[tuple[int, int | None]] = ()):
        self.entries: list[tuple[int, int | None]] = []
        for from_step, group in entries:
            self.set(group, from_step)

    def set(self, group: int | None, from_step: int) -> None:
        """`group` is active from `from_step` on; any later choice is forgotten."""
        if from_step < 0:
            raise ValueError(f"from_step must be >= 0, got {from_step}")
        self.entries = [(s, g) for s, g in self.entries if s < from_step] + [(int(from_step), group)]

    def group_at(self, step: int) -> int | None:
        active = None
        for from_step, group in self.entries:
            if from_step > step:
                break
            active = group
        return active

    def to_json(self) -> list[list]:
        return [[s, g] for s, g in self.entries]

    @classmethod
    def from_json(cls, value: Sequence[Sequence]) -> GroupSchedule:
        return cls([(int(s), None if g is None else int(g)) for s, g in value])


def groups_digest(groups: Sequence[np.ndarray] | None) -> str:
    """A short fingerprint of the group index lists, saved beside the schedule to catch a changed grouping."""
    if groups is None:
        return ""
    h = hashlib.sha1()
    for g in groups:
        a = np.asarray(g, np.int64)
        h.update(len(a).to_bytes(8, "little") + a.tobytes())
    return h.hexdigest()[:16]
