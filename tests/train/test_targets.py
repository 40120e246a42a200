"""Tests of ltsh_jax.train.targets against a loop-by-loop NumPy reference and hand-computed cells."""

from __future__ import annotations

import functools
import math

import jax
import numpy as np
import pytest

from ltsh_jax.people import People
from ltsh_jax.skeleton import CMU_MPI, COCO17, Skeleton
from ltsh_jax.train.targets import Targets, build_targets, map_size

ATOL = 1e-5
J = CMU_MPI.num_parts
STATIC = ("skeleton", "input_size", "stride", "sigma", "paf_width", "mask_synthetic", "synthetic_threshold")
# Every test runs build_targets under jax.jit, as the train step does (and much faster than op-by-op).
build = jax.jit(build_targets, static_argnames=STATIC)


def _people(keypoints, labelled, valid, is_synthetic=None) -> People:
    keypoints = np.asarray(keypoints, np.float32)
    valid = np.asarray(valid, bool)
    if is_synthetic is None:
        is_synthetic = np.zeros_like(valid)
    return People(keypoints, np.asarray(labelled, bool), valid, np.asarray(is_synthetic, bool))


def _one_person(joints: dict[int, tuple[float, float]], num_parts: int = J):
    """Keypoints [J, 2] and labelled [J] with only `joints` labelled."""
    kp = np.zeros((num_parts, 2), np.float32)
    lab = np.zeros((num_parts,), bool)
    for k, xy in joints.items():
        kp[k], lab[k] = xy, True
    return kp, lab


def _batch_of(*persons, synthetic=()) -> People:
    """One crop (B = 1) holding the given (keypoints, labelled) persons."""
    kp = np.stack([p[0] for p in persons])[None]
    lab = np.stack([p[1] for p in persons])[None]
    syn = np.array([[i in synthetic for i in range(len(persons))]])
    return _people(kp, lab, np.ones((1, len(persons)), bool), syn)


def _np(targets: Targets) -> dict[str, np.ndarray]:
    return {k: np.asarray(getattr(targets, k)) for k in ("heatmaps", "pafs", "heatmap_mask", "paf_mask")}


def reference_targets(people, ignore, skeleton: Skeleton, input_size, stride, sigma, width, mask_syn, thr):
    """Plain-loop NumPy reference: returns the four arrays and the largest number of limbs averaged in a cell."""
    kp, lab = np.asarray(people.keypoints, np.float64), np.asarray(people.labelled)
    valid, syn = np.asarray(people.valid), np.asarray(people.is_synthetic)
    b_, p_, j_, _ = kp.shape
    h, w = input_size[0] // stride, input_size[1] // stride
    n_limbs = len(skeleton.limbs)
    heat = np.zeros((b_, h, w, j_ + 1))
    pafs = np.zeros((b_, h, w, 2 * n_limbs))
    hmask = np.ones_like(heat)
    pmask = np.ones_like(pafs)
    most = 0
    for b in range(b_):
        for i in range(h):
            for j in range(w):
                cx, cy = j * stride + stride / 2 - 0.5, i * stride + stride / 2 - 0.5
                for k in range(j_):
                    for p in range(p_):
                        if not (valid[b, p] and lab[b, p, k]):
                            continue
                        g = math.exp(-((cx - kp[b, p, k, 0]) ** 2 + (cy - kp[b, p, k, 1]) ** 2) / (2 * sigma**2))
                        heat[b, i, j, k] = max(heat[b, i, j, k], g)
                        if mask_syn and syn[b, p] and g > thr:
                            hmask[b, i, j, k] = 0
                            hmask[b, i, j, j_] = 0
                heat[b, i, j, j_] = 1 - heat[b, i, j, :j_].max()
                for limb, (a, c) in enumerate(skeleton.limbs):
                    vectors = []
                    for p in range(p_):
                        if not (valid[b, p] and lab[b, p, a] and lab[b, p, c]):
                            continue
                        ax, ay = kp[b, p, a] / stride
                        dx, dy = kp[b, p, c] / stride - kp[b, p, a] / stride
                        length = math.hypot(dx, dy)
                        if length < 1e-3:
                            continue
                        ux, uy = dx / length, dy / length
                        vx, vy = cx / stride - ax, cy / stride - ay
                        along, across = vx * ux + vy * uy, abs(vx * uy - vy * ux)
                        if 0 <= along <= length and across <= width:
                            vectors.append((ux, uy))
                            if mask_syn and syn[b, p]:
                                pmask[b, i, j, 2 * limb : 2 * limb + 2] = 0
                    if vectors:
                        pafs[b, i, j, 2 * limb : 2 * limb + 2] = np.mean(vectors, axis=0)
                        most = max(most, len(vectors))
                if ignore is not None and ignore[b, i, j]:
                    hmask[b, i, j] = 0
                    pmask[b, i, j] = 0
    return {"heatmaps": heat, "pafs": pafs, "heatmap_mask": hmask, "paf_mask": pmask}, most


def _random_batch(seed: int = 0, nan_garbage: bool = True):
    """B = 2 crops of 64 x 48 px with 3 slots: unlabelled joints, an invalid slot, a synthetic person."""
    rng = np.random.default_rng(seed)
    b, p, size = 2, 3, (64, 48)
    kp = np.stack([rng.uniform(-6, size[1] + 6, (b, p, J)), rng.uniform(-6, size[0] + 6, (b, p, J))], -1)
    # Person 1 of crop 0 copies person 0 with a small offset, so that limbs overlap and get averaged.
    kp[0, 1] = kp[0, 0] + rng.uniform(-3, 3, (J, 2))
    lab = rng.uniform(size=(b, p, J)) > 0.2
    valid = np.array([[True, True, False], [True, True, True]])
    syn = np.array([[False, False, True], [True, False, False]])
    if nan_garbage:
        kp[~lab] = np.nan
        kp[0, 2] = 1e30
    ignore = rng.uniform(size=(b,) + map_size(size, 8)) > 0.8
    return _people(kp, lab, valid, syn), ignore, size


@pytest.mark.parametrize("mask_synthetic", [False, True])
def test_matches_loop_reference(mask_synthetic):
    people, ignore, size = _random_batch()
    got = _np(build(people, ignore, skeleton=CMU_MPI, input_size=size, mask_synthetic=mask_synthetic))
    want, most = reference_targets(people, ignore, CMU_MPI, size, 8, 7.0, 1.0, mask_synthetic, 0.25)
    assert most >= 2, "the random batch must exercise PAF averaging"
    for name, value in want.items():
        assert got[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name], value, atol=ATOL, err_msg=name)
    if mask_synthetic:
        assert (got["heatmap_mask"] == 0).sum() > (ignore.sum() * (J + 1)), "synthetic masking must add zeros"


def test_reference_with_other_stride_sigma_width():
    people, _, size = _random_batch(seed=3)
    kwargs = dict(stride=4, sigma=5.0, paf_width=1.5, mask_synthetic=True, synthetic_threshold=0.5)
    got = _np(build(people, None, skeleton=CMU_MPI, input_size=size, **kwargs))
    want, _ = reference_targets(people, None, CMU_MPI, size, 4, 5.0, 1.5, True, 0.5)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, atol=ATOL, err_msg=name)


def test_gaussian_at_cell_centre():
    # Cell (row 2, col 3) has its centre at x = 3 * 8 + 3.5, y = 2 * 8 + 3.5.
    people = _batch_of(_one_person({0: (27.5, 19.5)}))
    heat = np.asarray(build(people, None, skeleton=CMU_MPI, input_size=(64, 64)).heatmaps)[0]
    one_cell = math.exp(-64 / 98)
    assert heat[2, 3, 0] == pytest.approx(1.0, abs=1e-6)
    assert heat[2, 4, 0] == pytest.approx(one_cell, abs=1e-6)
    assert heat[1, 3, 0] == pytest.approx(one_cell, abs=1e-6)
    assert heat[3, 4, 0] == pytest.approx(math.exp(-128 / 98), abs=1e-6)
    assert heat[2, 3, -1] == pytest.approx(0.0, abs=1e-6)
    assert heat[2, 4, -1] == pytest.approx(1 - one_cell, abs=1e-6)
    assert np.all(heat[..., 1:J] == 0), "unlabelled parts stay empty"
    assert heat[7, 0, -1] == pytest.approx(1.0, abs=1e-6)


def _horizontal(reverse: bool = False):
    """Limb 0 (head top -> upper neck) along row 3, from the centre of col 1 to that of col 6."""
    a, b = (11.5, 27.5), (51.5, 27.5)
    return _one_person({0: b, 1: a} if reverse else {0: a, 1: b})


def _paf0(people: People) -> np.ndarray:
    return np.asarray(build(people, None, skeleton=CMU_MPI, input_size=(64, 64)).pafs)[0, ..., 0:2]


def test_horizontal_limb():
    paf = _paf0(_batch_of(_horizontal()))
    for row in (2, 3, 4):  # on the limb and exactly one cell (= paf_width) away
        np.testing.assert_allclose(paf[row, 1:7], np.tile([1.0, 0.0], (6, 1)), atol=1e-6)
    np.testing.assert_array_equal(paf[5], 0.0)  # two cells away
    np.testing.assert_array_equal(paf[1], 0.0)
    np.testing.assert_array_equal(paf[3, [0, 7]], 0.0)  # beyond the ends
    pafs = np.asarray(build(_batch_of(_horizontal()), None, skeleton=CMU_MPI, input_size=(64, 64)).pafs)
    assert np.all(pafs[..., 2:] == 0), "other limbs stay empty"


def test_overlapping_limbs_are_averaged():
    same = _paf0(_batch_of(_horizontal(), _horizontal()))
    np.testing.assert_allclose(same[3, 1:7], np.tile([1.0, 0.0], (6, 1)), atol=1e-6)
    opposite = _paf0(_batch_of(_horizontal(), _horizontal(reverse=True)))
    np.testing.assert_allclose(opposite, 0.0, atol=1e-6)
    # A vertical limb down col 3 from row 3 to row 7 crosses the horizontal one at (row 3, col 3).
    vertical = _one_person({0: (27.5, 27.5), 1: (27.5, 59.5)})
    crossed = _paf0(_batch_of(_horizontal(), vertical))
    np.testing.assert_allclose(crossed[3, 3], [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(crossed[6, 3], [0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(crossed[3, 6], [1.0, 0.0], atol=1e-6)


def test_degenerate_limb_contributes_nothing():
    people = _batch_of(_one_person({0: (20.0, 20.0), 1: (20.0, 20.0)}))
    t = _np(build(people, None, skeleton=CMU_MPI, input_size=(64, 64), mask_synthetic=True))
    assert all(np.isfinite(v).all() for v in t.values())
    np.testing.assert_array_equal(t["pafs"], 0.0)
    assert t["heatmaps"][..., 0].max() > 0.9


def test_invariants_on_random_batch():
    people, ignore, size = _random_batch(seed=1)
    t = _np(build(people, ignore, skeleton=CMU_MPI, input_size=size, mask_synthetic=True))
    assert all(np.isfinite(v).all() for v in t.values())
    assert t["heatmaps"].min() >= 0.0 and t["heatmaps"].max() <= 1.0
    assert np.linalg.norm(t["pafs"].reshape(*t["pafs"].shape[:-1], -1, 2), axis=-1).max() <= 1 + 1e-6
    for name in ("heatmap_mask", "paf_mask"):
        assert set(np.unique(t[name])) <= {0.0, 1.0}
        assert np.all(t[name][ignore] == 0)


def test_coincident_people_take_max_not_sum():
    person = _one_person({k: (10.0 + 3 * k, 12.0 + 2 * k) for k in range(J)})
    one = _np(build(_batch_of(person), None, skeleton=CMU_MPI, input_size=(64, 48)))
    two = _np(build(_batch_of(person, person), None, skeleton=CMU_MPI, input_size=(64, 48)))
    assert two["heatmaps"][..., :J].max() <= 1.0
    np.testing.assert_allclose(two["heatmaps"], one["heatmaps"], atol=1e-6)
    np.testing.assert_allclose(two["pafs"], one["pafs"], atol=1e-6)


def test_invalid_unlabelled_and_nan_joints_change_nothing():
    clean, ignore, size = _random_batch(seed=2, nan_garbage=False)  # slot 2 of crop 0 is invalid
    kp, lab, syn = np.array(clean.keypoints), np.array(clean.labelled), np.array(clean.is_synthetic)
    kp[~lab] = np.nan
    kp[0, 2] = np.nan
    lab[0, 2] = True  # labelled joints of an invalid slot must not count either
    syn[0, 2] = True  # nor may an invalid synthetic slot mask anything
    dirty = _people(kp, lab, clean.valid, syn)
    call = functools.partial(build, skeleton=CMU_MPI, input_size=size, mask_synthetic=True)
    got, want = _np(call(dirty, ignore)), _np(call(clean, ignore))
    assert all(np.isfinite(v).all() for v in got.values())
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6, err_msg=name)
    # Crop 0 without its invalid slot at all gives the same targets again.
    first_two = _people(
        np.asarray(clean.keypoints)[:1, :2],
        np.asarray(clean.labelled)[:1, :2],
        np.ones((1, 2), bool),
        np.asarray(clean.is_synthetic)[:1, :2],
    )
    fewer = _np(call(first_two, ignore[:1]))
    for name in want:
        np.testing.assert_allclose(got[name][:1], fewer[name], atol=1e-6, err_msg=name)


@pytest.mark.parametrize(("skeleton", "channels"), [(CMU_MPI, (16, 28)), (COCO17, (18, 38))])
def test_shapes_at_368(skeleton, channels):
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 368, (1, 2, skeleton.num_parts, 2))
    people = _people(kp, np.ones((1, 2, skeleton.num_parts), bool), [[True, True]], [[False, True]])
    assert map_size((368, 368), 8) == (46, 46)
    t = _np(build(people, np.zeros((1, 46, 46), bool), skeleton=skeleton, input_size=(368, 368), mask_synthetic=True))
    assert t["heatmaps"].shape == t["heatmap_mask"].shape == (1, 46, 46, channels[0])
    assert t["pafs"].shape == t["paf_mask"].shape == (1, 46, 46, channels[1])
    assert all(v.dtype == np.float32 for v in t.values())
    assert t["pafs"].any() and (t["paf_mask"] == 0).any()
    assert t["heatmaps"][..., : skeleton.num_parts].max() > 0.5


def test_only_synthetic_people_are_masked_wherever_they_have_targets():
    people, _, size = _random_batch(seed=4, nan_garbage=False)
    people = _people(people.keypoints, people.labelled, people.valid, np.ones_like(people.valid))
    t = _np(build(people, None, skeleton=CMU_MPI, input_size=size, mask_synthetic=True))
    strong = t["heatmaps"][..., :J] > 0.25
    assert strong.any() and np.all(t["heatmap_mask"][..., :J][strong] == 0)
    assert np.all(t["heatmap_mask"][..., J][strong.any(-1)] == 0)
    assert np.all(t["heatmap_mask"][..., J][~strong.any(-1)] == 1)
    drawn = t["pafs"] != 0
    assert drawn.any() and np.all(t["paf_mask"][drawn] == 0)
    assert (t["heatmap_mask"] == 1).any() and (t["paf_mask"] == 1).any()
    unmasked = _np(build(people, None, skeleton=CMU_MPI, input_size=size))
    assert np.all(unmasked["heatmap_mask"] == 1) and np.all(unmasked["paf_mask"] == 1)


def test_ignore_mask_none_equals_all_false():
    people, _, size = _random_batch(seed=5)
    a = _np(build(people, None, skeleton=CMU_MPI, input_size=size))
    b = _np(build(people, np.zeros((2, 8, 6), bool), skeleton=CMU_MPI, input_size=size))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_bad_shapes_raise():
    people, _, size = _random_batch()
    with pytest.raises(ValueError, match="ignore_mask"):
        build(people, np.zeros((2, 4, 4), bool), skeleton=CMU_MPI, input_size=size)
    with pytest.raises(ValueError, match="parts"):
        build(people, None, skeleton=COCO17, input_size=size)
