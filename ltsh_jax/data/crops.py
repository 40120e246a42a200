"""One training example from a PeopleRecord: decode, person-centred affine crop, padded people, ignore mask.

The host-side work of the input pipeline (targets are built on device), so its cost per crop is
the pipeline's. Decoding and warping are OpenCV's (libjpeg-turbo inside, the GIL released): the
same pixels as PIL's decoder, but 3-4x faster on progressive JPEGs (MPII's), and a warp 5x faster
than PIL's transform. A JPEG is decoded at a reduced size (libjpeg DCT scaling, 1/2, 1/4 or 1/8)
whenever the crop shrinks the image by that much: less decoding work, an area-averaged (less
aliased) source, the same crop resolution. OpenCV's own thread pool is switched off: the pipeline
runs one crop per worker thread.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from ltsh_jax.data import augment
from ltsh_jax.data.augment import AugmentParams
from ltsh_jax.data.sources import PeopleRecord
from ltsh_jax.people import People
from ltsh_jax.skeleton import Skeleton

cv2.setNumThreads(1)
_REDUCED = {1: cv2.IMREAD_COLOR_RGB, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip


def reduced_matrix(matrix: np.ndarray, factor: int) -> np.ndarray:
    """The image->crop matrix for the image reduced `factor` times (pixel j covers full pixels jk .. jk+k-1).

    Full-resolution point x = k x' + (k - 1) / 2 in the integer-centre convention of augment.py.
    """
    linear = matrix[:, :2] * factor
    offset = matrix[:, 2] + matrix[:, :2] @ np.full(2, (factor - 1) / 2.0)
    return np.concatenate([linear, offset[:, None]], axis=1)


def dct_factor(matrix: np.ndarray) -> int:
    """The largest of 1, 2, 4, 8 by which the image can be reduced and still have >= 1 pixel per crop pixel."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))  # crop pixels per image pixel
    return next(k for k in (8, 4, 2, 1) if k == 1 or k * scale <= 1.0 + 1e-9)


def _is_complete_jpeg(data: bytes) -> bool:
    # OpenCV decodes a truncated JPEG with a warning (grey rest); PIL raises: leave those to PIL.
    return data[:2] == b"\xff\xd8" and data.rstrip(b"\0\r\n ")[-2:] == b"\xff\xd9"


def _pil_decode(data: bytes, factor: int) -> tuple[np.ndarray, int]:
    with Image.open(io.BytesIO(data)) as pil:
        width, height = pil.size
        if pil.format == "JPEG" and factor > 1:
            pil.draft("RGB", (max(1, width // factor), max(1, height // factor)))  # PIL: largest k, size // k >= asked
        out = np.asarray(pil.convert("RGB"), np.uint8)
    return out, round(width / out.shape[1])


def decode_image(image: bytes | np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB [h, w, 3], image->crop matrix for it): JPEGs decoded at the smallest DCT scale that keeps
    the crop's resolution (dct_factor), other images in full. ValueError when the bytes do not decode."""
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image, np.uint8), matrix
    factor = dct_factor(matrix)
    decoded = None
    if _is_complete_jpeg(image):  # EXIF orientation is ignored, as PIL does
        decoded = cv2.imdecode(np.frombuffer(image, np.uint8), _REDUCED[factor] | cv2.IMREAD_IGNORE_ORIENTATION)
        if decoded is not None and factor > 1:
            decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)  # the reduced modes give BGR
    elif image[:2] != b"\xff\xd8":
        factor = 1
        decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if decoded is None:  # truncated, not readable by OpenCV, or not an image: PIL decodes or names the problem
        try:
            decoded, factor = _pil_decode(image, factor)
        except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
            raise ValueError(f"cannot decode image ({e})") from None
    return decoded, reduced_matrix(matrix, factor) if factor > 1 else matrix


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
        pixels, image_matrix = decode_image(record.image, matrix)
    except ValueError as e:
        raise ValueError(f"{record.name}: {e}") from None
    crop = augment.warp_image(pixels, image_matrix, size)
    mask = record.unannotated_mask
    if mask is None or (isinstance(mask, bytes) and not mask):
        ignore = np.zeros((size // stride, size // stride), np.uint8)
    else:
        ignore = (augment.warp_mask(_decode_mask(mask), matrix, size // stride, stride=stride) > 0).astype(np.uint8)
    return dict(image=crop, people=people, ignore_mask=ignore)


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
