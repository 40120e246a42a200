"""Tests of ltsh_jax.data.augment and of the crop crops.make_example builds from it: matrices against
hand-computed points, image warps against numpy rotations and flips, image/keypoint agreement on
coloured blobs, the flip label convention, and the ranges of the random draws."""

from __future__ import annotations

import numpy as np
import pytest

from ltsh_jax.data.augment import (
    AugmentParams,
    affine_matrix,
    crop_people,
    sample_transform,
    transform_points,
    warp_image,
    warp_mask,
)
from ltsh_jax.data.crops import make_example
from ltsh_jax.data.schema import min_distances
from ltsh_jax.data.sources import PeopleRecord
from ltsh_jax.skeleton import CMU_MPI, COCO17, from_mpii16

PART = {name: i for i, name in enumerate(CMU_MPI.part_names)}
# MPII-16 ids used below.
R_SHOULDER, L_SHOULDER, R_WRIST, L_WRIST, THORAX, PELVIS = 12, 13, 10, 15, 7, 6


def _frontal_person(center=(200.0, 150.0), height=200.0):
    """MPII-16 joints of a person facing the camera: their right side on the image's left."""
    cx, cy = center
    u = height / 10
    joints = {
        0: (-1, 5), 1: (-1, 3), 2: (-1, 1), 3: (1, 1), 4: (1, 3), 5: (1, 5), 6: (0, 1), 7: (0, -2.5),
        8: (0, -3), 9: (0, -5), 10: (-3, 1), 11: (-2.5, -1), 12: (-1.5, -2.5), 13: (1.5, -2.5), 14: (2.5, -1),
        15: (3, 1),
    }  # fmt: skip
    kp = np.array([[cx + u * joints[k][0], cy + u * joints[k][1]] for k in range(16)], np.float32)
    return kp, np.ones(16, bool)


def _one_person(image: np.ndarray, kp: np.ndarray, lab: np.ndarray, center, scale: float, mask=None) -> PeopleRecord:
    """A record of one person on a decoded image (crops.make_example's input)."""
    return PeopleRecord(
        image=image, keypoints=kp[None], labelled=lab[None], centers=np.array([center], np.float32),
        scales=np.array([scale], np.float32), is_synthetic=np.zeros(1, bool),
        min_distance=min_distances(kp[None], lab[None]), unannotated_mask=mask,
    )  # fmt: skip


def _crop(record: PeopleRecord, rng: np.random.Generator, params: AugmentParams, max_people: int):
    """(crops.make_example's crop of person 0, its image->crop matrix, flipped), the draws replayed from rng."""
    replay = np.random.default_rng()
    replay.bit_generator.state = rng.bit_generator.state
    matrix, flipped = sample_transform(replay, record.centers[0], record.scales[0], params, augment=True)
    return make_example(record, 0, rng, params, CMU_MPI, max_people), matrix, flipped


def test_eval_transform_puts_person_centre_at_crop_centre():
    """Convention: pixel centres at integers, so the crop centre is ((S - 1) / 2, (S - 1) / 2)."""
    params = AugmentParams(crop_size=368)
    matrix, flipped = sample_transform(np.random.default_rng(0), (412.0, 233.0), 2.5, params, augment=False)
    assert not flipped
    np.testing.assert_allclose(transform_points([412.0, 233.0], matrix), [183.5, 183.5], atol=1e-4)
    # Scale exactly 1.25 / person_scale = 0.5, no rotation: 10 px right and 20 px down -> 5 and 10.
    np.testing.assert_allclose(transform_points([422.0, 253.0], matrix), [188.5, 193.5], atol=1e-4)
    kp = np.zeros((1, 16, 2), np.float32)
    kp[0, THORAX] = kp[0, PELVIS] = (412.0, 233.0)  # chest = their mean = the person centre
    lab = np.zeros((1, 16), bool)
    lab[0, [THORAX, PELVIS]] = True
    people = crop_people(kp, lab, matrix, flipped, CMU_MPI, 2, crop_size=368)
    np.testing.assert_allclose(people.keypoints[0, PART["chest"]], [183.5, 183.5], atol=1e-4)


def test_rotation_by_90_degrees_is_counter_clockwise_on_screen():
    matrix = affine_matrix((100.0, 50.0), 2.0, 90.0, (3.0, -4.0), False, 101)
    mid = np.array([50.0 + 3.0, 50.0 - 4.0])
    # Right of the centre moves up; below the centre moves right (scale 2, then the shift).
    np.testing.assert_allclose(transform_points([110.0, 50.0], matrix), mid + [0.0, -20.0], atol=1e-9)
    np.testing.assert_allclose(transform_points([100.0, 60.0], matrix), mid + [20.0, 0.0], atol=1e-9)


def test_warp_image_matches_numpy_rotation_and_flip():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mid = (15.5, 15.5)
    np.testing.assert_array_equal(warp_image(image, affine_matrix(mid, 1.0, 0.0, (0, 0), False, 32), 32), image)
    rotated = warp_image(image, affine_matrix(mid, 1.0, 90.0, (0, 0), False, 32), 32)
    # np.rot90 turns counter-clockwise; PIL's bilinear may truncate x.999 to x - 1 (cos 90 deg is 6e-17).
    assert np.abs(rotated.astype(int) - np.rot90(image)).max() <= 1
    np.testing.assert_array_equal(warp_image(image, affine_matrix(mid, 1.0, 0.0, (0, 0), True, 32), 32), image[:, ::-1])
    # Shifted by 4 px to the right: the first 4 columns are the grey fill.
    shifted = warp_image(image, affine_matrix(mid, 1.0, 0.0, (4, 0), False, 32), 32)
    assert (shifted[:, :4] == 128).all()
    np.testing.assert_array_equal(shifted[:, 4:], image[:, :-4])


def _blob_image(kp: np.ndarray, size=(300, 400), half=5):
    """Grey-ish noise with a 11x11 square of a distinct colour at every keypoint."""
    image = np.full(size + (3,), 40, np.uint8)
    colours = np.array([[20 + 14 * k, 250 - 13 * k, (90 + 71 * k) % 256] for k in range(len(kp))], np.uint8)
    for (x, y), colour in zip(np.round(kp).astype(int), colours, strict=True):
        image[y - half : y + half + 1, x - half : x + half + 1] = colour
    return image, colours


def test_warped_blobs_sit_under_the_transformed_keypoints():
    """Image warp and keypoint transform agree, flips and rotations included; labels follow the flip."""
    kp, lab = _frontal_person()
    kp = np.round(kp)
    image, colours = _blob_image(kp)
    params = AugmentParams(crop_size=256, flip_prob=0.5)
    rng = np.random.default_rng(0)
    flips = []
    for _ in range(16):
        # MPII scale 1.25 -> image-to-crop scale in [0.4, 1.6]: blobs stay > 4 crop pixels wide.
        sample, matrix, flipped = _crop(_one_person(image, kp, lab, (200.0, 150.0), 1.25), rng, params, 2)
        people, crop = sample["people"], sample["image"]
        np.testing.assert_allclose(people.keypoints[0, PART["chest"]], transform_points((200, 135), matrix), atol=1e-3)
        checked = 0
        for part, mpii_ids in enumerate(CMU_MPI.from_mpii16):
            if len(mpii_ids) != 1:
                continue
            x, y = np.round(people.keypoints[0, part]).astype(int)
            if not (0 <= x < 256 and 0 <= y < 256):
                continue
            # Unflipped, the blob under a part is its own MPII joint's; flipped, the mirrored
            # partner's (l_wrist now sits on the blob of the original r_wrist).
            source = CMU_MPI.flip_permutation[part] if flipped else part
            np.testing.assert_array_equal(crop[y, x], colours[CMU_MPI.from_mpii16[source][0]])
            checked += 1
        assert checked >= 8
        flips.append(flipped)
    assert 0 < sum(flips) < len(flips)  # both branches are exercised


def test_flip_swaps_labels_so_a_frontal_person_stays_frontal():
    kp, lab = _frontal_person()
    plain = affine_matrix((200.0, 150.0), 1.0, 20.0, (5.0, 7.0), False, 368)
    mirrored = affine_matrix((200.0, 150.0), 1.0, 20.0, (5.0, 7.0), True, 368)
    a = crop_people(kp[None], lab[None], plain, False, CMU_MPI, 1, crop_size=368)
    b = crop_people(kp[None], lab[None], mirrored, True, CMU_MPI, 1, crop_size=368)
    # The mirror x -> S - 1 - x (about the shifted centre) with the left/right names swapped.
    for left, right in CMU_MPI.flip_pairs:
        for src, dst in ((left, right), (right, left)):
            want = a.keypoints[0, src].copy()
            want[0] = 2 * (183.5 + 5.0) - want[0]
            np.testing.assert_allclose(b.keypoints[0, dst], want, atol=1e-3)
    chest = PART["chest"]
    np.testing.assert_allclose(b.keypoints[0, chest, 0], 2 * 188.5 - a.keypoints[0, chest, 0], atol=1e-3)
    # The person as they appear in the mirrored crop still faces the camera: right side on the left.
    assert a.keypoints[0, PART["r_wrist"], 0] < a.keypoints[0, PART["l_wrist"], 0]
    assert b.keypoints[0, PART["r_wrist"], 0] < b.keypoints[0, PART["l_wrist"], 0]
    assert b.keypoints[0, PART["r_shoulder"], 0] < b.keypoints[0, PART["l_shoulder"], 0]


def test_augmentation_draws_stay_in_their_ranges():
    params = AugmentParams()
    rng = np.random.default_rng(1)
    center, person_scale = np.array([640.0, 360.0]), 3.2
    factors, angles, shifts, flips = [], [], [], []
    for _ in range(2000):
        matrix, flipped = sample_transform(rng, center, person_scale, params, augment=True)
        linear = matrix[:, :2]
        factors.append(np.sqrt(abs(np.linalg.det(linear))) / (1.25 / person_scale))
        angles.append(np.degrees(np.arctan2(-linear[1, 0], linear[1, 1])))  # row 1 is untouched by the mirror
        shifts.append(transform_points(center, matrix) - 183.5)
        flips.append(flipped)
        assert (np.linalg.det(linear) < 0) == flipped
    factors, angles, shifts = np.array(factors), np.array(angles), np.array(shifts)
    assert factors.min() >= 0.4 - 1e-9 and factors.max() <= 1.6 + 1e-9
    assert factors.min() < 0.45 and factors.max() > 1.55  # the whole range is used
    assert np.abs(angles).max() <= 45 + 1e-9 and angles.min() < -43 and angles.max() > 43
    assert np.abs(shifts).max() <= 50 + 1e-3 and np.abs(shifts).max() > 48
    assert 0.45 < np.mean(flips) < 0.55


def test_params_are_validated():
    with pytest.raises(ValueError, match="scale_min"):
        AugmentParams(scale_min=2.0, scale_max=1.0)
    with pytest.raises(ValueError, match="flip_prob"):
        AugmentParams(flip_prob=1.5)
    with pytest.raises(ValueError, match="person_scale"):
        sample_transform(np.random.default_rng(0), (0, 0), 0.0, AugmentParams(), augment=False)


def test_same_seed_gives_the_same_sample():
    kp, lab = _frontal_person()
    image = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    mask = np.zeros((300, 400), np.uint8)
    mask[:, 250:] = 1
    params = AugmentParams(crop_size=128)

    def sample(seed):
        return _crop(_one_person(image, kp, lab, (200, 150), 2.0, mask), np.random.default_rng(seed), params, 3)[0]

    a, b, c = sample(7), sample(7), sample(8)
    for key in ("image", "ignore_mask"):
        assert a[key].tobytes() == b[key].tobytes()
    assert a["people"].keypoints.tobytes() == b["people"].keypoints.tobytes()
    assert a["image"].tobytes() != c["image"].tobytes()
    assert not np.array_equal(a["people"].keypoints, c["people"].keypoints)
    assert a["image"].shape == (128, 128, 3) and a["ignore_mask"].shape == (16, 16)
    assert a["ignore_mask"].any() and not a["ignore_mask"].all()


def test_warp_mask_samples_at_map_cell_centres():
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 1  # the right half of the image
    identity = affine_matrix((31.5, 31.5), 1.0, 0.0, (0, 0), False, 64)
    # Cell u covers crop pixels 8u .. 8u + 7, centre 8u + 3.5: cells 4..7 lie in the right half.
    np.testing.assert_array_equal(warp_mask(mask, identity, 8, stride=8), np.repeat([[0, 0, 0, 0, 1, 1, 1, 1]], 8, 0))
    np.testing.assert_array_equal(warp_mask(mask, identity, 64), mask)
    # Moved 16 px left: cells 2..5 masked, and outside the image counts as not ignored (0).
    moved = affine_matrix((31.5, 31.5), 1.0, 0.0, (-16, 0), False, 64)
    np.testing.assert_array_equal(warp_mask(mask, moved, 8, stride=8)[0], [0, 0, 1, 1, 1, 1, 0, 0])


def test_target_first_then_nearest_people_truncated_and_padded():
    base, lab = _frontal_person((200.0, 150.0), 100.0)
    offsets = np.array([[300.0, 0.0], [0.0, 0.0], [60.0, 0.0], [-120.0, 0.0]])  # person 1 is the target
    kp = np.stack([base + o for o in offsets])
    labs = np.stack([lab] * 4)
    centers = np.array([[200.0, 150.0]]) + offsets
    matrix = affine_matrix(centers[1], 1.0, 0.0, (0, 0), False, 368)
    syn = np.array([True, False, True, False])
    people = crop_people(
        kp, labs, matrix, False, CMU_MPI, 3, crop_size=368, target=1, centers=centers, is_synthetic=syn
    )
    chest = PART["chest"]
    np.testing.assert_allclose(people.keypoints[:, chest, 0] - 183.5, [0.0, 60.0, -120.0], atol=1e-3)
    np.testing.assert_array_equal(people.valid, [True, True, True])
    np.testing.assert_array_equal(people.is_synthetic, [False, True, False])
    padded = crop_people(kp[:2], labs[:2], matrix, False, CMU_MPI, 4, crop_size=368, target=1, centers=centers[:2])
    np.testing.assert_array_equal(padded.valid, [True, True, False, False])
    assert not padded.labelled[2:].any() and (padded.keypoints[2:] == 0).all()
    with pytest.raises(ValueError, match="target person 5"):
        crop_people(kp, labs, matrix, False, CMU_MPI, 3, crop_size=368, target=5)


@pytest.mark.parametrize("skeleton", [CMU_MPI, COCO17], ids=["cmu_mpi", "coco17"])
def test_crop_people_parts_equal_skeleton_from_mpii16(skeleton):
    """The matrix form crop_people uses gives exactly skeleton.from_mpii16 (derived parts, labels, zeros)."""
    rng = np.random.default_rng(5)
    keypoints = rng.uniform(-50, 400, (7, 16, 2)).astype(np.float32)
    labelled = rng.random((7, 16)) > 0.3
    keypoints[~labelled] = np.nan  # whatever unlabelled joints hold never leaks into other parts
    matrix = affine_matrix((180, 150), 0.8, 20.0, (0, 0), False, 256)
    people = crop_people(keypoints, labelled, matrix, False, skeleton, 7, crop_size=256, centers=np.zeros((7, 2)))
    want_xy, want_lab = from_mpii16(skeleton, transform_points(keypoints, matrix), labelled)
    np.testing.assert_array_equal(people.labelled, want_lab)
    np.testing.assert_array_equal(people.keypoints, np.where(want_lab[..., None], want_xy, 0.0))
