"""Crowded crops (the fidelity issue, item 3): people past max_people are masked out of the loss, not
trained as background. The masked cells are worked out by hand on a 16 x 16 map."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from experiments.configs.common import base_config
from ltsh_jax.data.augment import AugmentParams
from ltsh_jax.data.crops import make_example
from ltsh_jax.data.schema import min_distances
from ltsh_jax.data.sources import PeopleRecord
from ltsh_jax.models.openpose import StageOutput
from ltsh_jax.skeleton import CMU_MPI
from ltsh_jax.train.losses import pose_loss
from ltsh_jax.train.targets import build_targets

HEAD_TOP, UPPER_NECK = 9, 8  # MPII-16 ids: CMU parts 0 and 1, joined by limb 0
SIZE, STRIDE = 128, 8
# person_scale = target_scale and no augmentation: scale 1, centred on person 0 at the image centre,
# so crop pixels are image pixels.
PARAMS = AugmentParams(crop_size=SIZE)
CENTRE = (SIZE - 1) / 2


def _cell(col: int, row: int) -> tuple[float, float]:
    """The input pixel at the centre of map cell (col, row)."""
    return col * STRIDE + 3.5, row * STRIDE + 3.5


def _record(heads_necks: list[tuple], centers: list[tuple]) -> PeopleRecord:
    """People with only a head top and an upper neck labelled, on a grey SIZE x SIZE image."""
    n = len(heads_necks)
    kp = np.zeros((n, 16, 2), np.float32)
    lab = np.zeros((n, 16), bool)
    for p, (head, neck) in enumerate(heads_necks):
        kp[p, HEAD_TOP], kp[p, UPPER_NECK] = head, neck
        lab[p, [HEAD_TOP, UPPER_NECK]] = True
    return PeopleRecord(
        image=np.full((SIZE, SIZE, 3), 128, np.uint8), keypoints=kp, labelled=lab,
        centers=np.array(centers, np.float32), scales=np.full(n, PARAMS.target_scale, np.float32),
        is_synthetic=np.zeros(n, bool), min_distance=min_distances(kp, lab),
    )  # fmt: skip


# A (the crop's person) at the centre, B near it, C far left: with 2 slots C is dropped.
A = ((CENTRE, 40.0), (CENTRE, 60.0))
B = ((85.5, 20.0), (85.5, 36.0))
C = (_cell(2, 13), _cell(2, 11))  # head top on cell (2, 13), neck on cell (2, 11)
CENTERS = [(CENTRE, CENTRE), (80.0, 50.0), (19.5, 99.5)]

# C's support, by hand: sigma 7 px, 3 sigma = 21 px = 2.625 cells, so a cell (dx, dy) cells away
# from a joint counts when 64 (dx^2 + dy^2) <= 441, i.e. dx^2 + dy^2 <= 6: |dy| <= 1 with |dx| <= 2,
# |dy| = 2 with |dx| <= 1. Around rows 11 and 13 (column 2), and the limb's cells (rows 11-13,
# columns 1-3, within 1 cell of the segment) inside that: columns per row below.
C_SUPPORT = {9: (1, 3), 10: (0, 4), 11: (0, 4), 12: (0, 4), 13: (0, 4), 14: (0, 4), 15: (1, 3)}


def _support_mask() -> np.ndarray:
    mask = np.zeros((SIZE // STRIDE, SIZE // STRIDE), np.uint8)
    for row, (first, last) in C_SUPPORT.items():
        mask[row, first : last + 1] = 1
    return mask


def _loss(example: dict, ignore: np.ndarray, prediction: StageOutput):
    people = type(example["people"])(**{f: np.asarray(getattr(example["people"], f))[None] for f in
                                        ("keypoints", "labelled", "valid", "is_synthetic")})  # fmt: skip
    targets = build_targets(people, jnp.asarray(ignore)[None], skeleton=CMU_MPI, input_size=(SIZE, SIZE))
    out = pose_loss([prediction], targets, jnp.ones(1), jnp.zeros(1, bool))
    return targets, out


def test_people_past_the_cap_are_masked_on_their_support_and_change_nothing_else():
    crowded = make_example(_record([A, B, C], CENTERS), 0, np.random.default_rng(0), PARAMS, CMU_MPI, 2,
                           augment_crop=False)  # fmt: skip
    np.testing.assert_array_equal(crowded["people"].valid, [True, True])
    np.testing.assert_allclose(crowded["people"].keypoints[:, 0], [A[0], B[0]])  # C has no slot
    np.testing.assert_array_equal(crowded["ignore_mask"], _support_mask())
    assert crowded["ignore_mask"].sum() == 31

    without_c = make_example(_record([A, B], CENTERS[:2]), 0, np.random.default_rng(0), PARAMS, CMU_MPI, 2,
                             augment_crop=False)  # fmt: skip
    assert not without_c["ignore_mask"].any()
    rng = np.random.default_rng(1)
    maps = SIZE // STRIDE
    prediction = StageOutput(
        pafs=jnp.asarray(rng.normal(size=(1, maps, maps, 28)), jnp.float32),
        heatmaps=jnp.asarray(rng.normal(size=(1, maps, maps, 16)), jnp.float32),
    )
    targets, crowded_loss = _loss(crowded, crowded["ignore_mask"], prediction)
    # Zero loss on C's support, every channel:
    on_c = _support_mask().astype(bool)
    assert not np.asarray(targets.heatmap_mask)[0][on_c].any() and not np.asarray(targets.paf_mask)[0][on_c].any()
    # ... and elsewhere the loss of the same crop without C: equal to the crop without C, C's cells ignored.
    _, reference = _loss(without_c, _support_mask(), prediction)
    np.testing.assert_allclose(crowded_loss.per_sample, reference.per_sample, rtol=1e-6)
    _, unmasked = _loss(without_c, np.zeros_like(_support_mask()), prediction)
    assert float(unmasked.per_sample[0]) > float(reference.per_sample[0])  # the masked cells did hold loss


def test_everyone_fits_when_the_cap_is_large_enough():
    example = make_example(_record([A, B, C], CENTERS), 0, np.random.default_rng(0), PARAMS, CMU_MPI, 4,
                           augment_crop=False)  # fmt: skip
    np.testing.assert_array_equal(example["people"].valid, [True, True, True, False])
    assert not example["ignore_mask"].any()


def test_the_paper_cap_covers_a_poisson_9_crowd():
    """D_S draws Poisson(9) people per image: more than max_people in fewer than 1 image in 1,000."""
    cap = base_config().data.max_people
    beyond = 1.0 - sum(math.exp(-9.0) * 9.0**k / math.factorial(k) for k in range(cap + 1))
    assert beyond < 1e-3
