"""OpenPose decoding: real multi-person round trips, degenerate maps, hand-made cases, and reference checks."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, maximum_filter
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ltsh_jax.decode.assemble import DecodeParams, assemble, decode
from ltsh_jax.decode.limbs import greedy_match, limb_scores
from ltsh_jax.decode.peaks import _prepare, cubic_weight, find_peaks_and_count
from ltsh_jax.people import People
from ltsh_jax.skeleton import CMU_MPI, COCO17, Skeleton, from_mpii16
from ltsh_jax.train.targets import build_targets
from tests.paths import REAL_SAMPLES

SAMPLES = REAL_SAMPLES
CANVAS = (480, 640)  # every sample image fits: one map shape, so one compilation per skeleton
MAX_PEOPLE = 8
TOL_PX = 4.0  # far below 0.5 * head size (heads here are 30-60 px); interior joints are within ~1 px
# CrowdPose-14 (l/r shoulder, elbow, wrist, hip, knee, ankle, head top, neck) -> MPII-16 ids
CROWDPOSE_TO_MPII = (13, 12, 14, 11, 15, 10, 3, 2, 4, 1, 5, 0, 9, 8)

_build = jax.jit(build_targets, static_argnames=("skeleton", "input_size"))


def _maps(keypoints: np.ndarray, labelled: np.ndarray, skeleton: Skeleton, size=CANVAS):
    """Target heatmaps and PAFs [h, w, C] (stride 8) of people [P, J, 2] in an input of `size`."""
    n, j = labelled.shape
    kp = np.zeros((1, MAX_PEOPLE, j, 2), np.float32)
    lab = np.zeros((1, MAX_PEOPLE, j), bool)
    kp[0, :n], lab[0, :n] = keypoints, labelled
    valid = (np.arange(MAX_PEOPLE) < n)[None]
    t = _build(People(kp, lab, valid, np.zeros_like(valid)), None, skeleton=skeleton, input_size=size)
    return t.heatmaps[0], t.pafs[0]


def _load(name: str):
    """[(image record, keypoints [P, K, 2], labelled [P, K])] of a COCO-style sample file (people with joints)."""
    data = json.loads((SAMPLES / name / f"test_{name}.json").read_text())
    out = []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"] > 0]
        k = np.stack([np.asarray(a["keypoints"], np.float32).reshape(-1, 3) for a in anns])
        out.append((image, k[..., :2], k[..., 2] > 0))
    return out


def _crowdpose_to_cmu(kp: np.ndarray, lab: np.ndarray):
    """CrowdPose people -> MPII-16 (thorax = mean of shoulders, pelvis = mean of hips) -> CMU parts."""
    mpii = np.zeros(kp.shape[:1] + (16, 2), np.float32)
    mlab = np.zeros(kp.shape[:1] + (16,), bool)
    mpii[:, CROWDPOSE_TO_MPII], mlab[:, CROWDPOSE_TO_MPII] = kp, lab
    for derived, (a, b) in ((7, (12, 13)), (6, (2, 3))):
        ok = mlab[:, a] & mlab[:, b]
        mpii[:, derived] = np.where(ok[:, None], (mpii[:, a] + mpii[:, b]) / 2, 0)
        mlab[:, derived] = ok
    return (*from_mpii16(CMU_MPI, mpii, mlab), mpii, mlab)


def _expected(lab: np.ndarray, skeleton: Skeleton, min_parts: int = 3) -> list[tuple[int, frozenset]]:
    """(GT person, part set) of each group of labelled parts linked by labelled limbs, >= min_parts parts.

    That is what a bottom-up decoder can recover: a joint whose limbs have an unlabelled end is unreachable.
    """
    out = []
    n = skeleton.num_parts
    for g, row in enumerate(lab):
        edges = np.array([(a, b) for a, b in skeleton.limbs if row[a] and row[b]]).reshape(-1, 2)
        graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        for c in np.unique(comp[row]):
            parts = frozenset(np.nonzero(row & (comp == c))[0].tolist())
            if len(parts) >= min_parts:
                out.append((g, parts))
    return out


def _check_same_people(res, kp: np.ndarray, lab: np.ndarray, skeleton: Skeleton) -> None:
    """Each expected person is decoded once, with exactly its parts, each within TOL_PX; nothing else."""
    expected = _expected(lab, skeleton)
    assert len(res) == len(expected), (len(res), [sorted(p) for _, p in expected])
    unused = list(range(len(expected)))
    for p in range(len(res)):
        parts = frozenset(np.nonzero(res.part_scores[p] > 0)[0].tolist())
        hits = [
            e for e in unused
            if expected[e][1] == parts
            and np.linalg.norm(res.parts[p][list(parts)] - kp[expected[e][0]][list(parts)], axis=1).max() <= TOL_PX
        ]  # fmt: skip
        assert hits, f"decoded person {p} with parts {sorted(parts)} matches no GT person"
        unused.remove(hits[0])


def test_crowdpose_round_trip_recovers_every_person_in_mpii_layout():
    samples = _load("crowdpose")
    assert len(samples) == 2
    for image, kp, lab in samples:
        size = (image["height"], image["width"])
        parts, plab, mpii, mlab = _crowdpose_to_cmu(kp, lab)
        res = decode(*_maps(parts, plab, CMU_MPI), skeleton=CMU_MPI, input_size=size)
        _check_same_people(res, parts, plab, CMU_MPI)
        assert res.keypoints.shape == (len(res), 16, 2) and res.scores.shape == (len(res), 16)
        assert (res.scores[:, [6, 7]] == 0).all()  # pelvis, thorax: the chest has no MPII counterpart
        for p in range(len(res)):  # MPII-16 output: every present joint sits on some GT person's joint
            joints = np.nonzero(res.scores[p] > 0)[0]
            err = np.linalg.norm(res.keypoints[p, joints][None] - mpii[:, joints], axis=-1)
            assert (np.where(mlab[:, joints], err, np.inf).min(axis=0) <= TOL_PX).all()
        assert (res.person_scores[:-1] >= res.person_scores[1:]).all()


def test_coco_round_trip_other_layout_and_merge_of_partial_people():
    samples = _load("coco")
    assert len(samples) == 4
    for image, kp, lab in samples:
        size = (image["height"], image["width"])
        maps = _maps(kp, lab, COCO17)
        res = decode(*maps, skeleton=COCO17, input_size=size)
        _check_same_people(res, kp, lab, COCO17)
        assert (res.scores[:, [6, 7, 8, 9]] == 0).all()  # no pelvis, thorax, neck, head top in COCO
    # COCO's limb order builds legs first; the hips limb must merge them (the CMU C++ never merges)
    image, kp, lab = samples[0]
    assert image["file_name"] == "000000000785.jpg" and lab.all()  # one fully labelled person
    maps, size = _maps(kp, lab, COCO17), (image["height"], image["width"])
    whole = decode(*maps, skeleton=COCO17, input_size=size)
    assert len(whole) == 1 and whole.num_parts[0] == 17
    split = decode(*maps, skeleton=COCO17, input_size=size, params=DecodeParams(merge=False))
    assert len(split) >= 2 and split.num_parts.max() < 17


@pytest.mark.parametrize("kind", ["zeros", "constant", "constant_high", "nan"])
def test_degenerate_maps_give_no_people(kind):
    h, w = CANVAS[0] // 8, CANVAS[1] // 8
    fill = {"zeros": 0.0, "constant": 0.5, "constant_high": 1.0, "nan": np.nan}[kind]
    heat = np.full((h, w, CMU_MPI.num_heatmaps), fill, np.float32)
    paf = np.full((h, w, CMU_MPI.num_pafs), fill, np.float32)
    res = decode(heat, paf, skeleton=CMU_MPI, input_size=CANVAS)
    assert len(res) == 0 and res.keypoints.shape == (0, 16, 2) and res.parts.shape == (0, 15, 2)


def test_random_noise_maps_decode_without_error():
    rng = np.random.default_rng(0)
    h, w = CANVAS[0] // 8, CANVAS[1] // 8
    heat = rng.uniform(0, 1, (h, w, CMU_MPI.num_heatmaps)).astype(np.float32)
    paf = rng.uniform(-1, 1, (h, w, CMU_MPI.num_pafs)).astype(np.float32)
    res = decode(heat, paf, skeleton=CMU_MPI, input_size=CANVAS)  # every block survives: the dense path
    assert res.parts.shape == (len(res), 15, 2) and np.isfinite(res.parts).all()
    assert (res.num_parts >= 3).all() and (res.mean_scores >= 0.2).all()
    assert ((res.part_scores > 0).sum(axis=1) == res.num_parts).all()


def _cmu(joints: dict[int, tuple[float, float]]):
    kp, lab = np.zeros((15, 2), np.float32), np.zeros(15, bool)
    for k, xy in joints.items():
        kp[k], lab[k] = xy, True
    return kp, lab


# A full person standing at x ~ 150 whose right arm reaches to the right, and one at x ~ 380 whose right
# arm reaches to the left: the two right forearms cross, and each elbow is nearer the other's wrist.
PERSON_A = {0: (150, 40), 1: (150, 80), 2: (130, 110), 3: (230, 150), 4: (300, 210), 5: (170, 110), 6: (180, 160),
            7: (185, 205), 14: (150, 170), 8: (135, 240), 9: (133, 310), 10: (130, 380), 11: (165, 240),
            12: (167, 310), 13: (170, 380)}  # fmt: skip
PERSON_B = {k: (v[0] + 230, v[1]) for k, v in PERSON_A.items()} | {2: (360, 110), 3: (300, 150), 4: (230, 210)}


def test_crossing_forearms_are_assigned_by_paf_not_by_distance():
    (ka, la), (kb, lb) = _cmu(PERSON_A), _cmu(PERSON_B)
    assert np.linalg.norm(ka[3] - kb[4]) < np.linalg.norm(ka[3] - ka[4])  # nearest wrist is the wrong one
    res = decode(*_maps(np.stack([ka, kb]), np.stack([la, lb]), CMU_MPI), skeleton=CMU_MPI, input_size=CANVAS)
    assert len(res) == 2 and (res.num_parts == 15).all()
    for p in range(2):
        gt = ka if abs(res.parts[p, 0, 0] - ka[0, 0]) < 5 else kb
        np.testing.assert_allclose(res.parts[p], gt, atol=1.5)


def test_two_part_person_is_filtered_three_part_person_kept():
    two = _cmu({0: (300, 100), 1: (300, 150)})
    three = _cmu({0: (300, 100), 1: (300, 150), 2: (260, 170)})
    for (kp, lab), want in ((two, 0), (three, 1)):
        assert len(decode(*_maps(kp[None], lab[None], CMU_MPI), skeleton=CMU_MPI, input_size=CANVAS)) == want


def test_min_parts_four_drops_a_lone_arm_beside_a_whole_person():
    """CMU's COCO rule (min_parts 4, the demo's) drops a three-part arm that the MPI rule (3) keeps."""
    person = _cmu({k: (x - 100, y) for k, (x, y) in PERSON_A.items()})
    arm = _cmu({2: (400, 110), 3: (430, 160), 4: (440, 210)})  # r_shoulder, r_elbow, r_wrist of nobody
    maps = _maps(np.stack([person[0], arm[0]]), np.stack([person[1], arm[1]]), CMU_MPI)
    mpi = decode(*maps, skeleton=CMU_MPI, input_size=CANVAS)
    assert sorted(mpi.num_parts.tolist()) == [3, 15]
    coco = decode(*maps, skeleton=CMU_MPI, input_size=CANVAS, params=DecodeParams(min_parts=4))
    assert coco.num_parts.tolist() == [15]


def test_low_mean_score_person_is_filtered():
    kp, lab = _cmu({0: (300, 100), 1: (300, 150), 2: (260, 170)})
    heat, paf = _maps(kp[None], lab[None], CMU_MPI)
    kept = decode(heat, paf, skeleton=CMU_MPI, input_size=CANVAS)
    assert len(kept) == 1 and kept.mean_scores[0] > 0.9  # peaks ~1, connections ~1
    faint = decode(heat * 0.1, paf * 0.1, skeleton=CMU_MPI, input_size=CANVAS)  # peaks, limbs found; mean ~0.1
    assert len(faint) == 0
    assert len(decode(heat * 0.1, paf * 0.1, skeleton=CMU_MPI, input_size=CANVAS,
                      params=DecodeParams(min_mean_score=0.05))) == 1  # fmt: skip


def test_assemble_merges_two_halves_joined_by_a_limb():
    # chain a-b-c-d whose limb order builds (a, b) and (c, d) before the limb (b, c) that joins them
    limbs = ((0, 1), (2, 3), (1, 2))
    peak_score = np.full((4, 2), 0.9, np.float32)
    match = np.array([[0, -1], [0, -1], [0, -1]])
    match_score = np.array([[0.8, 0], [0.7, 0], [0.6, 0]], np.float32)
    members, totals = assemble(peak_score, match, match_score, limbs)
    np.testing.assert_array_equal(members, [[0, 0, 0, 0]])
    np.testing.assert_allclose(totals, [4 * 0.9 + 0.8 + 0.7 + 0.6], rtol=1e-6)
    members, _ = assemble(peak_score, match, match_score, limbs, merge=False)  # the reference C++ behaviour
    np.testing.assert_array_equal(members, [[0, 0, -1, -1], [-1, -1, 0, 0]])
    # halves that share a part type (1, with different peaks) are not merged
    match = np.array([[0, -1], [-1, 0], [0, -1]])  # (0, 1): 0-0; (1, 2): 1-0; (0, 2): 0-0 joins the halves
    members, _ = assemble(np.full((3, 2), 0.9, np.float32), match, match_score, ((0, 1), (1, 2), (0, 2)))
    np.testing.assert_array_equal(members, [[0, 0, -1], [-1, 1, 0]])


def test_greedy_match_equals_sequential_greedy_loop():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 6, size=(5, 12, 12)).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.4] = -np.inf
    match, matched = jax.device_get(jax.jit(greedy_match)(jnp.asarray(scores)))
    for limb in range(5):
        pairs = sorted(((scores[limb, i, j], i, j) for i in range(12) for j in range(12)
                        if np.isfinite(scores[limb, i, j])), key=lambda t: t[0], reverse=True)  # fmt: skip
        want, used_b = np.full(12, -1), set()
        for _, i, j in pairs:
            if want[i] < 0 and j not in used_b:
                want[i] = j
                used_b.add(j)
        np.testing.assert_array_equal(match[limb], want)
        np.testing.assert_array_equal(matched[limb][want >= 0], scores[limb, want >= 0, want[want >= 0]])


def test_limb_score_is_mean_plus_length_prior_and_rejects_off_field_pairs():
    h, w = 8, 12
    paf = np.zeros((h, w, 2), np.float32)
    paf[..., 0] = 1.0  # a uniform field pointing right
    xy = np.array([[[8, 30], [8, 30]], [[48, 30], [8, 60]]], np.int32)  # part 0 peaks, part 1 peaks
    valid = np.ones((2, 2), bool)
    score_fn = jax.jit(lambda *a: limb_scores(*a, ((0, 1),), stride=8, image_height=40.0))
    scores = np.asarray(score_fn(jnp.asarray(paf), jnp.asarray(xy), jnp.asarray(valid)))
    np.testing.assert_allclose(scores[0, 0, 0], 1.0 + (0.5 * 40 / 40 - 1), atol=1e-6)  # long limb: prior -0.5
    assert scores[0, 0, 1] == -np.inf  # perpendicular to the field: no sample above 0.01


def _reference_smoothed(x: np.ndarray, size, stride=8, sigma=3.0, pad=6):
    """Independent reference: edge-pad the map, bicubic x stride (OpenCV kernel), scipy Gaussian, crop."""
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="edge").astype(np.float64)

    def upsample(n_in):
        u = (np.arange(n_in * stride) + 0.5) / stride - 0.5
        base = np.floor(u).astype(int)
        m = np.zeros((n_in * stride, n_in))
        for o in range(-1, 3):
            np.add.at(m, (np.arange(len(u)), np.clip(base + o, 0, n_in - 1)), cubic_weight(u - base - o))
        return m

    up = np.einsum("Hh,hwc,Ww->HWc", upsample(xp.shape[0]), xp, upsample(xp.shape[1]), optimize=True)
    up = gaussian_filter(up, (sigma, sigma, 0))
    o = pad * stride
    return up[o : o + size[0], o : o + size[1]]


def _scipy_peaks(m: np.ndarray, threshold=0.05) -> set:
    is_max = m == maximum_filter(m, size=3, mode="constant", cval=-np.inf)
    ys, xs = np.nonzero(is_max & (m > threshold))
    return set(zip(xs.tolist(), ys.tolist(), strict=True))


def find_peaks(maps, input_size, *, stride=8, sigma=3.0, max_peaks=64, max_blocks=4096):
    return find_peaks_and_count(maps, input_size, stride=stride, sigma=sigma, threshold=0.05, max_peaks=max_peaks,
                                max_blocks=max_blocks)[0]  # fmt: skip


def _jax_peaks(peaks, c) -> set:
    xy = np.asarray(peaks.xy[c])[np.asarray(peaks.valid[c])]
    return set(map(tuple, xy.tolist()))


def test_peak_finder_equals_scipy_maximum_filter_on_smooth_maps():
    rng = np.random.default_rng(2)
    maps = gaussian_filter(rng.normal(size=(64, 80, 3)), (2, 2, 0)).astype(np.float32)
    peaks = find_peaks(jnp.asarray(maps), (64, 80), stride=1, sigma=0.0, max_peaks=128)
    for c in range(3):
        want = _scipy_peaks(maps[..., c])
        assert len(want) > 10 and _jax_peaks(peaks, c) == want


def test_upsampled_smoothed_peaks_equal_reference_on_sparse_and_dense_paths():
    rng = np.random.default_rng(3)
    h, w = 40, 52
    yy, xx = np.mgrid[:h, :w]
    maps = np.zeros((h, w, 2))
    for c in range(2):  # blobs of several widths and heights, so most blocks are empty (the sparse path)
        for _ in range(10):
            y, x, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.6, 2.0)
            blob = rng.uniform(0.1, 1) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / s**2)
            maps[..., c] = np.maximum(maps[..., c], blob)
    maps = maps.astype(np.float32)
    size = (h * 8 - 5, w * 8 - 3)  # not a multiple of the stride: the last map cells are partly outside
    smooth = _reference_smoothed(maps, size)
    _, _, counts = _prepare(jnp.asarray(maps), jnp.asarray(size), stride=8, sigma=3.0, threshold=0.05)
    assert np.asarray(counts).max() < h * w // 4  # the default call evaluates only the surviving blocks
    sparse = find_peaks(jnp.asarray(maps), size, max_peaks=64)
    dense = find_peaks(jnp.asarray(maps), size, max_peaks=64, max_blocks=4)  # overflows: evaluates every block
    for c in range(2):
        want = _scipy_peaks(smooth[..., c])
        assert len(want) > 5 and _jax_peaks(sparse, c) == want and _jax_peaks(dense, c) == want
        got = np.asarray(sparse.score[c])[np.asarray(sparse.valid[c])]
        ref = [smooth[y, x, c] for x, y in np.asarray(sparse.xy[c])[np.asarray(sparse.valid[c])]]
        np.testing.assert_allclose(got, ref, atol=1e-5)
        assert (np.diff(got) <= 0).all()
