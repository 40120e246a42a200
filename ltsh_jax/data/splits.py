"""Reads our built TFDS datasets (array_record, random access, no TensorFlow) and decodes their examples.

The schema is data_builders/features.py. Reading needs no builder code: TFDS restores a built
dataset from its folder, so the library does not import data_builders.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from ltsh_jax.data import annotation_index

BUILD_COMMAND = "python -m data_builders.build {name} --data_dir={data_dir}"
# Datasets made from photographs the user supplies (the others are generated from the embedded assets).
NEEDS_MANUAL_DIR = ("mpii_multiperson", "ltsh_mixed", "ltsh_stylized")


def load_split(
    name: str, split: str, data_dir: str | pathlib.Path, config: str | None = None
) -> Sequence[dict[str, Any]]:
    """The split as a random-access data source (len, [i]) of raw examples; decode them with decode_example.

    FileNotFoundError naming the build command when the dataset is not built under data_dir;
    KeyError listing the splits when `split` is not one of them.
    """
    data_dir = pathlib.Path(data_dir).expanduser()
    full_name = name if config is None else f"{name}/{config}"
    command = BUILD_COMMAND.format(name=full_name, data_dir=data_dir)
    if name in NEEDS_MANUAL_DIR:
        command += " --manual_dir=<the MPII folder: images + annotations, see WORKSPACE.md>"
    not_built = f"dataset {full_name} is not built under {data_dir}; build it with: {command}"
    try:
        builder = tfds.builder(full_name, data_dir=str(data_dir))
    except tfds.core.registered.DatasetNotFoundError:
        raise FileNotFoundError(not_built) from None
    if not builder.is_prepared():
        raise FileNotFoundError(not_built)
    if split not in builder.info.splits:
        raise KeyError(
            f"dataset {full_name} in {data_dir} has no split {split!r}; it has {sorted(builder.info.splits)}"
        )
    return builder.as_data_source(split=split)


def load_annotation_index(data_source: Any) -> annotation_index.AnnotationIndex | None:
    """The annotation index our builders write beside a split (checked against its records), or None
    (with a warning: start-up then reads every record, images included) for a build without one."""
    path = annotation_index.index_path(data_source.dataset_info.data_dir, data_source.split)
    if not path.is_file():
        logging.warning("%s: no annotation index; reading every record to index the people (rebuild the "
                        "dataset with this version of data_builders to skip that)", path)  # fmt: skip
        return None
    index = annotation_index.AnnotationIndex.load(path)
    index.check(data_source)
    return index


@dataclasses.dataclass(frozen=True, eq=False)
class MultiPersonExample:
    """A decoded example: an image and its P people (0-based pixels, MPII-16 joints)."""

    filename: str
    image: np.ndarray  # uint8 [H, W, 3]
    keypoints: np.ndarray  # float32 [P, 16, 2]
    visibility: np.ndarray  # uint8 [P, 16]: 0 not labelled, 1 occluded, 2 visible
    head_box: np.ndarray  # float32 [P, 4] x1 y1 x2 y2, NaN if unknown
    objpos: np.ndarray  # float32 [P, 2]
    scale: np.ndarray  # float32 [P], person height / 200 px
    is_synthetic: np.ndarray  # bool [P]
    min_distance: np.ndarray  # float32 [P], px to the nearest other person (1e6 when alone)
    group_id: np.ndarray  # int32 [P], MPII multi-person group, -1 if none
    camera_pitch: float  # degrees, NaN if unknown
    unannotated_mask: np.ndarray | None  # bool [H, W], True where people without annotations are
    instance_mask: np.ndarray | None  # int32 [H, W], k > 0 = person k - 1
    covered_by_synthetic: np.ndarray | None = None  # bool [P, 16]: real joint hidden by a synthetic human (D_M)

    @property
    def labelled(self) -> np.ndarray:
        """bool [P, 16]: the joint is annotated."""
        return self.visibility > 0


def decode_image_bytes(data: bytes, what: str = "image") -> np.ndarray:
    """Encoded bytes -> uint8 RGB [H, W, 3] (grayscale and CMYK converted); ValueError naming `what`."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), np.uint8)
    except (OSError, Image.DecompressionBombError, SyntaxError, ValueError) as e:
        raise ValueError(f"{what}: cannot decode image ({e})") from None


def _decode_mask(data: bytes, shape: tuple[int, int], what: str) -> np.ndarray | None:
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            mask = np.asarray(image).astype(np.int32)
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{what}: cannot decode mask ({e})") from None
    if mask.shape != shape:
        raise ValueError(f"{what}: mask shape {mask.shape} differs from the image's {shape}")
    return mask


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def decode_example(raw: dict) -> MultiPersonExample:
    """A raw example of load_split -> MultiPersonExample; ValueError naming the file if it is inconsistent."""
    filename = _text(raw["image/filename"])
    image = decode_image_bytes(raw["image"], filename)
    shape = (int(raw["image/height"]), int(raw["image/width"]))
    if image.shape[:2] != shape:
        raise ValueError(f"{filename}: decoded image is {image.shape[:2]}, the example says {shape}")
    people = raw["people"]
    keypoints = np.asarray(people["keypoints"], np.float32)
    unannotated = _decode_mask(raw["unannotated_mask"], shape, f"{filename} unannotated_mask")
    return MultiPersonExample(
        filename=filename,
        image=image,
        keypoints=keypoints[..., :2],
        visibility=keypoints[..., 2].astype(np.uint8),
        head_box=np.asarray(people["head_box"], np.float32),
        objpos=np.asarray(people["objpos"], np.float32),
        scale=np.asarray(people["scale"], np.float32),
        is_synthetic=np.asarray(people["is_synthetic"], bool),
        min_distance=np.asarray(people["min_distance"], np.float32),
        group_id=np.asarray(people["group_id"], np.int32),
        camera_pitch=float(raw["camera_pitch"]),
        unannotated_mask=None if unannotated is None else unannotated > 0,
        instance_mask=_decode_mask(raw["instance_mask"], shape, f"{filename} instance_mask"),
        covered_by_synthetic=(
            np.asarray(people["covered_by_synthetic"], bool) if "covered_by_synthetic" in people else None
        ),
    )
