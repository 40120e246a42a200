"""The TFDS features of every multi-person dataset of this project (real MPII and synthetic).

An example is an image with all its annotated people; units, conventions and codes are
ltsh_jax.data.schema's. Encoded images are raw bytes, not tfds.features.Image: that one needs
TensorFlow to encode arrays (masks), cannot hold an absent mask, and decodes on every read in
tfds.data_source (CMYK JPEGs come back with 4 channels); raw bytes keep the source file exactly and
leave decoding (RGB) to our pipeline. Masks are PNG (encode_mask, encode_instance_mask) or b"".
"""

from __future__ import annotations

import io

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from ltsh_jax.data.schema import NOT_LABELLED, OCCLUDED, VISIBLE, min_distances
from ltsh_jax.skeleton import NUM_MPII16


def multiperson_features() -> tfds.features.FeaturesDict:
    """The shared TFDS features (units and conventions: ltsh_jax.data.schema)."""
    t = tfds.features.Tensor
    return tfds.features.FeaturesDict(
        {
            "image": t(shape=(), dtype=np.object_, doc="encoded image bytes (JPEG or PNG), as in the source"),
            "image/filename": tfds.features.Text(doc="source image path, relative to the images folder"),
            "image/height": tfds.features.Scalar(dtype=np.int32),
            "image/width": tfds.features.Scalar(dtype=np.int32),
            "camera_pitch": tfds.features.Scalar(dtype=np.float32, doc="degrees; NaN where unknown"),
            "people": tfds.features.FeaturesDict(
                {
                    "keypoints": t(shape=(None, NUM_MPII16, 3), dtype=np.float32, doc="MPII-16 x, y, v"),
                    "head_box": t(shape=(None, 4), dtype=np.float32, doc="x1 y1 x2 y2; NaN if unknown"),
                    "objpos": t(shape=(None, 2), dtype=np.float32, doc="rough person centre"),
                    "scale": t(shape=(None,), dtype=np.float32, doc="person height / 200 px"),
                    "is_synthetic": t(shape=(None,), dtype=np.bool_),
                    "min_distance": t(shape=(None,), dtype=np.float32, doc="px to the nearest other person"),
                    "group_id": t(shape=(None,), dtype=np.int32, doc="MPII multi-person group; -1 if none"),
                    "covered_by_synthetic": t(
                        shape=(None, NUM_MPII16), dtype=np.bool_, doc="joint hidden by a composited synthetic human"
                    ),
                }
            ),
            "unannotated_mask": t(shape=(), dtype=np.object_, doc="PNG, nonzero = unannotated people; b'' if none"),
            "instance_mask": t(shape=(), dtype=np.object_, doc="16-bit PNG, k > 0 = person k - 1; b'' if none"),
        }
    )


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def encode_mask(mask: np.ndarray) -> bytes:
    """A boolean [H, W] mask as an 8-bit PNG with values 0 / 255 (deterministic bytes)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D [H, W], got shape {mask.shape}")
    return _png(Image.fromarray(np.where(mask != 0, 255, 0).astype(np.uint8), mode="L"))


def encode_instance_mask(instances: np.ndarray) -> bytes:
    """An integer [H, W] map (0 = nobody, k = person k - 1, k < 65536) as a 16-bit PNG."""
    instances = np.asarray(instances)
    if instances.ndim != 2 or not np.issubdtype(instances.dtype, np.integer):
        raise ValueError(f"an instance mask must be a 2-D integer array, got {instances.dtype} {instances.shape}")
    if instances.size and (instances.min() < 0 or instances.max() > 65535):
        raise ValueError("instance ids must lie in [0, 65535]")
    return _png(Image.fromarray(instances.astype(np.uint16)))


def make_example(
    *,
    image: bytes,
    filename: str,
    height: int,
    width: int,
    keypoints: np.ndarray,
    head_box: np.ndarray,
    objpos: np.ndarray,
    scale: np.ndarray,
    is_synthetic: np.ndarray,
    group_id: np.ndarray,
    camera_pitch: float = float("nan"),
    unannotated_mask: bytes = b"",
    instance_mask: bytes = b"",
    covered_by_synthetic: np.ndarray | None = None,
) -> dict:
    """One example of the shared schema, min_distance computed here; ValueError on a wrong shape or value."""
    keypoints = np.asarray(keypoints, np.float32)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_MPII16, 3) or keypoints.shape[0] < 1:
        raise ValueError(f"{filename}: keypoints must have shape (P >= 1, {NUM_MPII16}, 3), got {keypoints.shape}")
    num = keypoints.shape[0]
    people = {
        "keypoints": keypoints,
        "head_box": np.asarray(head_box, np.float32).reshape(num, 4),
        "objpos": np.asarray(objpos, np.float32).reshape(num, 2),
        "scale": np.asarray(scale, np.float32).reshape(num),
        "is_synthetic": np.asarray(is_synthetic, np.bool_).reshape(num),
        "min_distance": min_distances(keypoints[..., :2], keypoints[..., 2] > 0),
        "group_id": np.asarray(group_id, np.int32).reshape(num),
        "covered_by_synthetic": (
            np.zeros((num, NUM_MPII16), np.bool_)
            if covered_by_synthetic is None
            else np.asarray(covered_by_synthetic, np.bool_).reshape(num, NUM_MPII16)
        ),
    }
    if not np.isin(keypoints[:, :, 2], (NOT_LABELLED, OCCLUDED, VISIBLE)).all():
        raise ValueError(f"{filename}: keypoint visibility must be 0, 1 or 2")
    if not np.isfinite(keypoints).all():
        raise ValueError(f"{filename}: keypoints must be finite (unlabelled joints are 0, 0, 0)")
    return {
        "image": image,
        "image/filename": filename,
        "image/height": np.int32(height),
        "image/width": np.int32(width),
        "camera_pitch": np.float32(camera_pitch),
        "people": people,
        "unannotated_mask": unannotated_mask,
        "instance_mask": instance_mask,
    }
