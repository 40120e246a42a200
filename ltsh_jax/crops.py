"""One training example from a PeopleRecord: decode, person-centred affine crop, padded people, ignore mask.

The host-side work of the input pipeline (targets are built on device). Decoding dominates, so a
JPEG is decoded at a reduced size (libjpeg DCT scaling, PIL's `draft`) whenever the crop shrinks
the image by 2x or more: 2-8x less decoding work, and an area-averaged (less aliased) source.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ltsh_jax import augment
from ltsh_jax.augment import AugmentParams
from ltsh_jax.people import People
from ltsh_jax.skeleton import Skeleton
from ltsh_jax.sources import PeopleRecord

_FILL = (128, 128, 128)


def reduced_matrix(matrix: np.ndarray, factor: int) -> np.ndarray:
    """The image->crop matrix for the image reduced `factor` times (pixel j covers full pixels jk .. jk+k-1).

    Full-resolution point x = k x' + (k - 1) / 2 in the integer-centre convention of augment.py.
    """
    linear = matrix[:, :2] * factor
    offset = matrix[:, 2] + matrix[:, :2] @ np.full(2, (factor - 1) / 2.0)
    return np.concatenate([linear, offset[:, None]], axis=1)


def open_image(image: bytes | np.ndarray, matrix: np.ndarray) -> tuple[Image.Image, np.ndarray]:
    """(RGB PIL image, matrix for it): JPEGs decoded at the smallest DCT scale that keeps the crop's resolution."""
    if isinstance(image, np.ndarray):
        return Image.fromarray(np.ascontiguousarray(image, np.uint8)), matrix
    try:
        pil = Image.open(io.BytesIO(image))
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))  # crop pixels per image pixel
        width, height = pil.size
        if pil.format == "JPEG" and scale <= 0.5:
            pil.draft("RGB", (int(np.ceil(width * scale)), int(np.ceil(height * scale))))
        factor = round(width / pil.size[0])
        pil = pil.convert("RGB") if pil.mode != "RGB" else pil
        pil.load()
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
        raise ValueError(f"cannot decode image ({e})") from None
    return pil, reduced_matrix(matrix, factor) if factor > 1 else matrix


def _decode_mask(mask: bytes | np.ndarray) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        return mask
    with Image.open(io.BytesIO(mask)) as pil:
        return np.asarray(pil)


def make_example(
    record: PeopleRecord,
    person: int,
    rng: np.random.Generator,
    params: AugmentParams,
    skeleton: Skeleton,
    max_people: int,
    *,
    augment_crop: bool = True,
    stride: int = 8,
) -> dict:
    """The crop centred on `person` of `record`.

    Returns dict(image=uint8 [S, S, 3], people=People [max_people, ...] (slot 0 = `person`),
    ignore_mask=uint8 [S/stride, S/stride] (1 on unannotated people)).
    """
    size = params.crop_size
    if size % stride:
        raise ValueError(f"crop_size {size} is not a multiple of stride {stride}")
    centers = np.asarray(record.centers, np.float32)
    matrix, flipped = augment.sample_transform(
        rng, centers[person], record.scales[person], params, augment=augment_crop
    )
    people = augment.crop_people(
        record.keypoints,
        record.labelled,
        matrix,
        flipped,
        skeleton,
        max_people,
        crop_size=size,
        target=person,
        centers=centers,
        is_synthetic=record.is_synthetic,
    )
    try:
        pil, image_matrix = open_image(record.image, matrix)
    except ValueError as e:
        raise ValueError(f"{record.name}: {e}") from None
    crop = augment._pil_warp(pil, image_matrix, size, Image.Resampling.BILINEAR, _FILL)
    mask = record.unannotated_mask
    if mask is None or (isinstance(mask, bytes) and not mask):
        ignore = np.zeros((size // stride, size // stride), np.uint8)
    else:
        ignore = (augment.warp_mask(_decode_mask(mask), matrix, size // stride, stride=stride) > 0).astype(np.uint8)
    return dict(image=np.asarray(crop, np.uint8), people=people, ignore_mask=ignore)


def stack_examples(examples: list[dict], synthetic: np.ndarray) -> dict:
    """Per-crop examples -> the batch dict the train step takes (People [B, P, ...])."""
    fields = ("keypoints", "labelled", "valid", "is_synthetic")
    people = People(**{f: np.stack([np.asarray(getattr(e["people"], f)) for e in examples]) for f in fields})
    extra = {k: np.stack([e[k] for e in examples]) for k in examples[0] if k not in ("image", "people", "ignore_mask")}
    return dict(
        image=np.stack([e["image"] for e in examples]),
        people=people,
        ignore_mask=np.stack([e["ignore_mask"] for e in examples]),
        is_synthetic=np.asarray(synthetic, bool),
        **extra,
    )
