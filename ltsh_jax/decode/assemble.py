"""OpenPose post-processing: heatmaps and PAFs -> people (docs/reference.md, MPII settings).

Pipeline: peaks of the bicubically upsampled, Gaussian-smoothed heatmaps (`peaks`), PAF line
integrals between all peak pairs of every limb type and greedy one-to-one matching (`limbs`),
in three jitted calls whose static sizes (blocks searched, peaks per part) are read back on the host
and rounded up to a few buckets; then people are assembled from the accepted limbs on the host,
merging two partial people that share no part type when a limb joins them (the CMU C++ never merges:
a defect), and filtered by number of parts and mean score.

Conventions: maps at stride s put cell k at input pixel k*s + s/2 - 0.5 (as `targets.build_targets`);
output coordinates are input pixels with pixel centres at integers (peaks are integer pixels).
Scores: a part's score is its smoothed heatmap value; a person's score (OpenPose) is the sum of its
part scores and of its limb connection scores.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ltsh_jax.decode.limbs import greedy_match, limb_scores
from ltsh_jax.decode.peaks import bucket, find_peaks_and_count
from ltsh_jax.skeleton import NUM_MPII16, Skeleton, to_mpii16


@dataclasses.dataclass(frozen=True)
class DecodeParams:
    """Thresholds of the OpenPose MPII evaluation, and the static sizes of the jitted part."""

    smooth_sigma: float = 3.0  # Gaussian blur of the upsampled heatmaps, input pixels
    peak_threshold: float = 0.05
    max_peaks: int = 64  # per part; the highest are kept
    max_blocks: int = 4096  # per part: blocks of stride x stride pixels evaluated sparsely, beyond: all blocks
    num_samples: int = 10  # PAF samples along a limb candidate
    paf_threshold: float = 0.01
    min_samples_above: int = 8  # "more than 7 of 10"
    distance_prior: float = 0.5  # score += min(distance_prior * image height / length - 1, 0)
    min_parts: int = 3
    min_mean_score: float = 0.2  # person score / number of parts
    merge: bool = True  # False reproduces the reference C++, which never merges partial people


@dataclasses.dataclass(frozen=True)
class DecodedPeople:
    """N people, highest person score first (numpy arrays).

    keypoints: float32 [N, 16, 2] MPII-16 (x, y) input pixels; scores: float32 [N, 16], 0 = absent.
    person_scores: float32 [N], sum of part and connection scores; num_parts: int32 [N].
    parts: float32 [N, J, 2] and part_scores: float32 [N, J], the same in the skeleton's layout.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    person_scores: np.ndarray
    num_parts: np.ndarray
    parts: np.ndarray
    part_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.person_scores)

    @property
    def mean_scores(self) -> np.ndarray:
        """Person score / number of parts, the quantity the filter thresholds."""
        return self.person_scores / np.maximum(self.num_parts, 1)


@functools.partial(jax.jit, static_argnames=("limbs", "stride", "params", "k"))
def _device_limbs(pafs, peaks, input_size, *, limbs, stride, params, k):
    """The first k peaks per part (xy, score) and per-limb matches [L, k]: index of the part-b peak or -1, score."""
    xy, score, valid = (a[:, :k] for a in peaks)  # peaks come highest first: the first k hold them all
    scores = limb_scores(
        jnp.asarray(pafs),
        xy,
        valid,
        limbs,
        stride=stride,
        image_height=input_size[0].astype(jnp.float32),
        num_samples=params.num_samples,
        paf_threshold=params.paf_threshold,
        min_samples_above=params.min_samples_above,
        distance_prior=params.distance_prior,
    )
    return (xy, score) + greedy_match(scores)


def assemble(
    peak_score: np.ndarray,
    match: np.ndarray,
    match_score: np.ndarray,
    limbs: Sequence[tuple[int, int]],
    *,
    merge: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """People from accepted limbs: (peak index per part [N, J], -1 = absent; person score [N]).

    Limb types in skeleton order, connections by descending score. A connection joins the person
    holding one of its ends if that person's slot for the other end is free; joins (merges) two
    people if they share no part type; starts a new person if neither end is taken.
    """
    num_parts = peak_score.shape[0]
    people: dict[int, np.ndarray] = {}
    totals: dict[int, float] = {}
    owner: dict[tuple[int, int], int] = {}
    next_id = 0
    for limb, (a, b) in enumerate(limbs):
        ks = np.nonzero(match[limb] >= 0)[0]
        for ka in ks[np.argsort(-match_score[limb, ks], kind="stable")]:
            kb, conn = int(match[limb, ka]), float(match_score[limb, ka])
            pa, pb = owner.get((a, ka)), owner.get((b, kb))
            if pa is None and pb is None:
                people[next_id] = np.full(num_parts, -1, np.int64)
                people[next_id][[a, b]] = ka, kb
                totals[next_id] = float(peak_score[a, ka] + peak_score[b, kb]) + conn
                owner[(a, ka)] = owner[(b, kb)] = next_id
                next_id += 1
            elif pb is None or pa is None:
                person, part, k = (pa, b, kb) if pb is None else (pb, a, ka)
                if people[person][part] < 0:
                    people[person][part] = k
                    totals[person] += float(peak_score[part, k]) + conn
                    owner[(part, k)] = person
            elif pa != pb and merge and not ((people[pa] >= 0) & (people[pb] >= 0)).any():
                taken = people[pb] >= 0
                people[pa][taken] = people[pb][taken]
                totals[pa] += totals.pop(pb) + conn
                for part in np.nonzero(taken)[0]:
                    owner[(int(part), int(people[pb][part]))] = pa
                del people[pb]
    ids = list(people)
    if not ids:
        return np.zeros((0, num_parts), np.int64), np.zeros((0,), np.float32)
    return np.stack([people[i] for i in ids]), np.asarray([totals[i] for i in ids], np.float32)


def decode(
    heatmaps,
    pafs,
    *,
    skeleton: Skeleton,
    input_size: tuple[int, int],
    stride: int = 8,
    params: DecodeParams = DecodeParams(),
) -> DecodedPeople:
    """Maps of one image -> people in input pixels.

    Args:
      heatmaps: [h, w, J+1] (background last, ignored) or [h, w, J], numpy or JAX.
      pafs: [h, w, 2L], limb l in channels 2l (x) and 2l+1 (y).
      skeleton: the part and limb layout of the maps.
      input_size: (height, width) of the input image the maps cover; the image height sets the limb
        length prior, and only pixels inside it can be peaks.
      stride: input pixels per map cell (1 for maps already at input resolution).
      params: thresholds and sizes (OpenPose MPII settings by default).
    """
    j = skeleton.num_parts
    h, w, channels = np.shape(heatmaps)[-3:] if np.ndim(heatmaps) == 3 else (0, 0, -1)
    if channels not in (j, j + 1):
        raise ValueError(f"heatmaps must be [h, w, {j}(+1)] for {skeleton.name}, got {np.shape(heatmaps)}")
    if np.shape(pafs) != (h, w, skeleton.num_pafs):
        raise ValueError(f"pafs must be {(h, w, skeleton.num_pafs)}, got {np.shape(pafs)}")
    # maps that do not reach the image's far edges are extended by edge replication (the border convention)
    cells = [-(-int(n) // stride) for n in input_size]
    grow = ((0, max(0, cells[0] - h)), (0, max(0, cells[1] - w)), (0, 0))
    if grow[0][1] or grow[1][1]:
        heatmaps, pafs = jnp.pad(heatmaps, grow, mode="edge"), jnp.pad(pafs, grow, mode="edge")
    size = np.asarray(input_size, np.int32)
    peaks, most = find_peaks_and_count(
        heatmaps,
        size,
        stride=int(stride),
        sigma=params.smooth_sigma,
        threshold=params.peak_threshold,
        max_peaks=params.max_peaks,
        max_blocks=params.max_blocks,
        channels=j,
    )
    device_params = dataclasses.replace(params, min_parts=0, min_mean_score=0.0, merge=True)  # host-only fields
    out = _device_limbs(
        pafs,
        peaks,
        size,
        limbs=tuple(skeleton.limbs),
        stride=int(stride),
        params=device_params,
        k=bucket(most, 8, params.max_peaks),
    )
    xy, peak_score, match, match_score = jax.device_get(out)
    members, totals = assemble(peak_score, match, match_score, skeleton.limbs, merge=params.merge)
    present = members >= 0
    count = present.sum(axis=1)
    keep = (count >= params.min_parts) & (totals >= params.min_mean_score * np.maximum(count, 1))
    members, present, count, totals = members[keep], present[keep], count[keep], totals[keep]
    order = np.argsort(-totals, kind="stable")
    members, present, count, totals = members[order], present[order], count[order], totals[order]
    safe = np.maximum(members, 0)
    parts = np.where(present[..., None], xy[np.arange(j), safe], 0).astype(np.float32)
    part_scores = np.where(present, peak_score[np.arange(j), safe], 0).astype(np.float32)
    keypoints, scores = to_mpii16(skeleton, parts.reshape(-1, j, 2), part_scores.reshape(-1, j))
    return DecodedPeople(
        keypoints=keypoints.reshape(-1, NUM_MPII16, 2),
        scores=scores.reshape(-1, NUM_MPII16),
        person_scores=totals.astype(np.float32),
        num_parts=count.astype(np.int32),
        parts=parts,
        part_scores=part_scores,
    )
