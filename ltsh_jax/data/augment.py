"""Person-centred affine crops on the host (numpy, OpenCV warps, PIL for masks), as in the CMU/OpenPose training code.

Coordinates: (x, y) pixels with pixel centres at integers (pixel [i, j] is the point x=j, y=i), in
the image, in the crop, and for map cells (cell k's centre is crop pixel k * stride + (stride - 1) / 2,
as in targets.py). The crop centre is therefore ((S - 1) / 2, (S - 1) / 2): 183.5 for S = 368.
Matrices are 2x3 and map source points to destination points: dst = M[:, :2] @ src + M[:, 2].
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np
from PIL import Image

from ltsh_jax.people import People, empty_people
from ltsh_jax.skeleton import Skeleton

_FILL = (128, 128, 128)  # the grey the reference code pads crops with (0 after x / 256 - 0.5)


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """Training augmentation of docs/reference.md (the CMU reference values as defaults)."""

    crop_size: int = 368
    scale_min: float = 0.4
    scale_max: float = 1.6
    max_rotate: float = 45.0  # degrees, U[-max_rotate, max_rotate]
    max_shift: float = 50.0  # crop pixels, U[-max_shift, max_shift] per axis
    flip_prob: float = 0.5
    target_scale: float = 1.25  # crop pixels per image pixel times the MPII person scale (~250 px tall)

    def __post_init__(self):
        if self.crop_size <= 0:
            raise ValueError(f"crop_size must be positive, got {self.crop_size}")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError(f"need 0 < scale_min <= scale_max, got {self.scale_min}, {self.scale_max}")
        if self.max_rotate < 0 or self.max_shift < 0:
            raise ValueError(f"max_rotate and max_shift must be >= 0, got {self.max_rotate}, {self.max_shift}")
        if not 0 <= self.flip_prob <= 1:
            raise ValueError(f"flip_prob must lie in [0, 1], got {self.flip_prob}")
        if self.target_scale <= 0:
            raise ValueError(f"target_scale must be positive, got {self.target_scale}")


def affine_matrix(center, scale: float, rotate_deg: float, shift, flip: bool, crop_size: int) -> np.ndarray:
    """Image -> crop matrix: move `center` to the origin, scale, rotate, mirror, then to the crop centre + shift.

    Positive angles turn the picture counter-clockwise as displayed (y axis pointing down), as in
    OpenCV's getRotationMatrix2D: a point right of the centre moves up. The mirror x -> -x about the
    crop centre maps pixel column x to column S - 1 - x.
    """
    theta = np.deg2rad(rotate_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    linear = scale * np.array([[cos, sin], [-sin, cos]])
    if flip:
        linear = np.diag([-1.0, 1.0]) @ linear
    mid = (crop_size - 1) / 2.0
    offset = np.array([mid, mid]) + np.asarray(shift, np.float64) - linear @ np.asarray(center, np.float64)
    return np.concatenate([linear, offset[:, None]], axis=1)


def sample_transform(
    rng: np.random.Generator, center, person_scale: float, params: AugmentParams, *, augment: bool
) -> tuple[np.ndarray, bool]:
    """(matrix [2, 3], flipped) for a crop of the person at `center` with MPII scale `person_scale`.

    augment=False gives the evaluation crop: scale target_scale / person_scale exactly, centred, no
    rotation, shift or flip (and draws nothing from rng).
    """
    if not person_scale > 0:
        raise ValueError(f"person_scale must be positive, got {person_scale}")
    scale = params.target_scale / float(person_scale)
    if not augment:
        return affine_matrix(center, scale, 0.0, (0.0, 0.0), False, params.crop_size), False
    scale *= rng.uniform(params.scale_min, params.scale_max)
    rotate = rng.uniform(-params.max_rotate, params.max_rotate)
    shift = rng.uniform(-params.max_shift, params.max_shift, size=2)
    flipped = bool(rng.random() < params.flip_prob)
    return affine_matrix(center, scale, rotate, shift, flipped, params.crop_size), flipped


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Applies a 2x3 matrix to points [..., 2] (float32 out)."""
    points = np.asarray(points, np.float64)
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the inverse map."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear, (-linear @ matrix[:, 2])[:, None]], axis=1)


def _pil_warp(image: Image.Image, matrix: np.ndarray, out_size: int, resample, fill) -> Image.Image:
    # PIL maps each output point u (pixel centres at +0.5) to an input point v: convert our
    # integer-centre matrix to that convention, inverted: v = inv(A) (u - 0.5 - t) + 0.5.
    inv = invert_affine(matrix)
    data = inv[:, :2].ravel().tolist()
    const = inv[:, :2] @ np.array([-0.5, -0.5]) + inv[:, 2] + 0.5
    coeffs = (data[0], data[1], const[0], data[2], data[3], const[1])
    return image.transform((out_size, out_size), Image.Transform.AFFINE, coeffs, resample=resample, fillcolor=fill)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.ascontiguousarray(image, np.uint8)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must have shape [H, W, 3], got {image.shape}")
    return image


def warp_image(image: np.ndarray, matrix: np.ndarray, crop_size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [S, S, 3]: bilinear, grey (128) outside the image.

    OpenCV's warpAffine (5-6x faster than PIL's transform): it samples the source at inv(M) (dst) in
    the integer-centre convention used here; bilinear weights are fixed-point (1/32 px), and the
    pixels along the image border blend with the grey fill.
    """
    return cv2.warpAffine(
        _rgb(image), np.asarray(matrix, np.float64), (crop_size, crop_size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=_FILL,
    )  # fmt: skip


def map_matrix(matrix: np.ndarray, stride: int) -> np.ndarray:
    """Image -> map-cell matrix: the crop matrix followed by cell = (crop - (stride - 1) / 2) / stride."""
    linear = matrix[:, :2] / stride
    offset = matrix[:, 2] / stride - (stride - 1) / (2.0 * stride)
    return np.concatenate([linear, offset[:, None]], axis=1)


def warp_mask(mask: np.ndarray, matrix: np.ndarray, out_size: int, *, stride: int = 1) -> np.ndarray:
    """uint8 [H, W] image mask -> uint8 [out_size, out_size], nearest, 0 outside the image.

    `matrix` maps image to crop pixels; with stride > 1 the mask is sampled at the centres of the
    map cells (out_size = crop_size // stride), the resolution the loss masks live at.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must have shape [H, W], got {mask.shape}")
    pil = Image.fromarray(np.ascontiguousarray(mask, np.uint8))
    return np.asarray(_pil_warp(pil, map_matrix(matrix, stride), out_size, Image.Resampling.NEAREST, 0), np.uint8)


@functools.cache
def _mpii16_weights(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [J, 16] averaging weights, bool [J, 16] source joints) of skeleton.from_mpii16."""
    weights = np.zeros((skeleton.num_parts, 16), np.float32)
    sources = np.zeros((skeleton.num_parts, 16), bool)
    for part, ids in enumerate(skeleton.from_mpii16):
        if ids:
            weights[part, list(ids)] = 1.0 / len(ids)
            sources[part, list(ids)] = True
    return weights, sources


def _parts_from_mpii16(skeleton: Skeleton, keypoints: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, ...]:
    """skeleton.from_mpii16 of [P, 16, 2] / [P, 16] as one matrix product (20x faster, on the crop's hot path).

    Unlabelled joints are zeroed first, so that whatever they hold (NaN) never reaches another part.
    """
    weights, sources = _mpii16_weights(skeleton)
    ok = ~(sources[None] & ~labelled[:, None, :]).any(-1) & sources.any(-1)[None]
    known = np.where(labelled[..., None], keypoints, np.float32(0.0)).astype(np.float32)
    parts = np.einsum("jk,pkc->pjc", weights, known)
    return np.where(ok[..., None], parts, np.float32(0.0)), ok


def crop_people(
    keypoints_mpii: np.ndarray,
    labelled: np.ndarray,
    matrix: np.ndarray,
    flipped: bool,
    skeleton: Skeleton,
    max_people: int,
    *,
    crop_size: int,
    target: int = 0,
    centers: np.ndarray | None = None,
    is_synthetic: np.ndarray | None = None,
) -> People:
    """The crop's people (numpy People [max_people, ...]): `ordered_crop_people` cut or padded to max_people."""
    everyone = ordered_crop_people(
        keypoints_mpii, labelled, matrix, flipped, skeleton,
        crop_size=crop_size, target=target, centers=centers, is_synthetic=is_synthetic,
    )  # fmt: skip
    return pad_people(everyone, max_people)[0]


def ordered_crop_people(
    keypoints_mpii: np.ndarray,
    labelled: np.ndarray,
    matrix: np.ndarray,
    flipped: bool,
    skeleton: Skeleton,
    *,
    crop_size: int,
    target: int = 0,
    centers: np.ndarray | None = None,
    is_synthetic: np.ndarray | None = None,
) -> People:
    """Every person of the image (numpy People [P, ...]) in crop pixels and the skeleton's parts.

    The `target` person (the one the crop is centred on) comes first; the others follow by distance
    of their centre (`centers` [P, 2] in image pixels, else the mean of their labelled joints) to the
    centre of the crop_size x crop_size crop, people without a labelled joint last. Joints keep
    their labels wherever they land (People.labelled: annotated, maybe outside the crop).

    Flip convention (CMU/OpenPose): a mirrored photo shows a mirrored person, whose left side is the
    original's right side. So after a flip the labels are swapped (skeleton.flip_permutation): the
    part called l_wrist is the left wrist of the person as they appear in the crop, i.e. the mirrored
    position of the original r_wrist. A person facing the camera keeps r_shoulder left of l_shoulder.
    """
    keypoints_mpii = np.asarray(keypoints_mpii, np.float32)
    labelled = np.asarray(labelled, bool)
    count = keypoints_mpii.shape[0]
    if not 0 <= target < count:
        raise ValueError(f"target person {target} out of range for {count} people")
    parts, parts_labelled = _parts_from_mpii16(skeleton, transform_points(keypoints_mpii, matrix), labelled)
    if flipped:
        perm = skeleton.flip_permutation
        parts, parts_labelled = parts[:, perm], parts_labelled[:, perm]
    if centers is None:
        n = labelled.sum(axis=1)
        sums = (keypoints_mpii * labelled[..., None]).sum(axis=1)
        centers = sums / np.maximum(n, 1)[:, None]
        known = n > 0
    else:
        known = np.ones(count, bool)
    mid = (crop_size - 1) / 2.0
    distance = np.linalg.norm(transform_points(centers, matrix) - mid, axis=-1)
    distance = np.where(known, distance, np.inf)  # people without any labelled joint go last
    distance[target] = -1.0
    order = np.argsort(distance, kind="stable")
    synthetic = np.zeros(count, bool) if is_synthetic is None else np.asarray(is_synthetic, bool)
    return People(
        keypoints=np.where(parts_labelled[order][..., None], parts[order], np.float32(0.0)),
        labelled=parts_labelled[order],
        valid=np.ones(count, bool),
        is_synthetic=synthetic[order],
    )


def pad_people(people: People, max_people: int) -> tuple[People, People]:
    """(the first max_people of numpy `people` padded to max_people slots, the people left over)."""
    kept = empty_people(max_people, np.shape(people.keypoints)[1])
    k = min(max_people, len(people.valid))
    for field in ("keypoints", "labelled", "valid", "is_synthetic"):
        getattr(kept, field)[:k] = np.asarray(getattr(people, field))[:k]
    rest = People(**{f: np.asarray(getattr(people, f))[k:] for f in ("keypoints", "labelled", "valid", "is_synthetic")})
    return kept, rest
