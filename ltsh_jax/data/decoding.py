"""Stored images and masks (encoded bytes) -> pixel arrays: the one place the data path decodes them.

decode_image gives the full image (PIL, RGB: grayscale and CMYK converted), as evaluation and the
dataset tests read it. decode_image_for_crop is the training crop's fast path: OpenCV decodes
(libjpeg-turbo inside, the GIL released: the same pixels as PIL's decoder, but 3-4x faster on
progressive JPEGs, MPII's), and a JPEG is decoded at a reduced size (libjpeg DCT scaling, 1/2, 1/4
or 1/8) whenever the crop shrinks the image by that much: less decoding work, an area-averaged
(less aliased) source, the same crop resolution. Whatever OpenCV cannot read goes through PIL.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, ImageOps

_REDUCED = {1: cv2.IMREAD_COLOR_RGB, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip
_PIL_ERRORS = (OSError, Image.DecompressionBombError, SyntaxError, ValueError)


def _pil_decode(data: bytes, factor: int, what: str, upright: bool = False) -> tuple[np.ndarray, int]:
    """(uint8 RGB, the reduction PIL applied): a JPEG drafted at about 1/factor, anything else in full; `upright`
    turns the pixels as the EXIF orientation tag says (as a photo viewer shows them)."""
    try:
        with Image.open(io.BytesIO(data)) as pil:
            width, height = pil.size
            if pil.format == "JPEG" and factor > 1:
                pil.draft("RGB", (max(1, width // factor), max(1, height // factor)))  # largest k, size // k >= asked
            out = np.asarray((ImageOps.exif_transpose(pil) if upright else pil).convert("RGB"), np.uint8)
    except _PIL_ERRORS as e:
        raise ValueError(f"{what}: cannot decode image ({e})") from None
    return out, round(width / out.shape[1])


def decode_image(data: bytes, what: str = "image", *, upright: bool = False) -> np.ndarray:
    """Encoded bytes -> uint8 RGB [H, W, 3] in full; ValueError naming `what` when they do not decode.

    upright=True applies the EXIF orientation (users' camera photos); datasets keep the stored pixels, which
    their annotations refer to."""
    return _pil_decode(data, 1, what, upright)[0]


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


def decode_image_for_crop(
    image: bytes | np.ndarray, matrix: np.ndarray, what: str = "image"
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB [h, w, 3], image->crop matrix for it): JPEGs decoded at the smallest DCT scale that keeps
    the crop's resolution (dct_factor), other images in full. ValueError naming `what` when the bytes do not decode."""
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
        decoded, factor = _pil_decode(image, factor, what)
    return decoded, reduced_matrix(matrix, factor) if factor > 1 else matrix


def decode_mask(
    mask: bytes | np.ndarray | None, what: str = "mask", shape: tuple[int, int] | None = None
) -> np.ndarray | None:
    """A PNG mask -> its [H, W] values as stored (uint8 or uint16), an array as given, None when absent (None, b"").

    ValueError naming `what` when the bytes do not decode or, with `shape`, the mask has another size.
    """
    if mask is None or (isinstance(mask, bytes) and not mask):
        return None
    if isinstance(mask, np.ndarray):
        out = mask
    else:
        try:
            with Image.open(io.BytesIO(mask)) as pil:
                out = np.asarray(pil)
        except (OSError, SyntaxError, ValueError) as e:
            raise ValueError(f"{what}: cannot decode mask ({e})") from None
    if shape is not None and out.shape != tuple(shape):
        raise ValueError(f"{what}: mask shape {out.shape} differs from the image's {tuple(shape)}")
    return out
