"""One training example from a PeopleRecord: decode, person-centred affine crop, padded people, ignore mask.

The host-side work of the input pipeline (targets are built on device), so its cost per crop is
the pipeline's. The padded record holds the `max_people` people nearest the crop centre; the support
of the others (their Gaussians within 3 sigma, their limb areas) goes into the ignore mask, so that a
crowd larger than the record is never trained as background (the reference draws every person of
the image: DavHoffmann/LearningToTrainWithSyntheticHumans tf_pose/pose_dataset_personLevel_minDist.py,
MPIMetadata.get_heatmap / get_vectormap). Images are decoded at the crop's resolution
(decoding.decode_image_for_crop) and warped by OpenCV; OpenCV's own thread pool is switched off:
the pipeline runs one crop per worker thread.
"""

from __future__ import annotations

import cv2
import numpy as np

from ltsh_jax import part_fields
from ltsh_jax.data import augment, decoding
from ltsh_jax.data.augment import AugmentParams
from ltsh_jax.data.sources import PeopleRecord
from ltsh_jax.people import People
from ltsh_jax.skeleton import Skeleton

cv2.setNumThreads(1)


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
    sigma: float = 7.0,
    paf_width: float = 1.0,
) -> dict:
    """The crop centred on `person` of `record`.

    Returns dict(image=uint8 [S, S, 3], people=People [max_people, ...] (slot 0 = `person`),
    ignore_mask=uint8 [S/stride, S/stride] (1 on unannotated people and on the support of the
    people past max_people)). sigma and paf_width: the targets' (config.targets), for that support.
    """
    size = params.crop_size
    if size % stride:
        raise ValueError(f"crop_size {size} is not a multiple of stride {stride}")
    centers = np.asarray(record.centers, np.float32)
    matrix, flipped = augment.sample_transform(
        rng, centers[person], record.scales[person], params, augment=augment_crop
    )
    everyone = augment.ordered_crop_people(
        record.keypoints,
        record.labelled,
        matrix,
        flipped,
        skeleton,
        crop_size=size,
        target=person,
        centers=centers,
        is_synthetic=record.is_synthetic,
    )
    people, dropped = augment.pad_people(everyone, max_people)
    pixels, image_matrix = decoding.decode_image_for_crop(record.image, matrix, record.name)
    crop = augment.warp_image(pixels, image_matrix, size)
    mask = decoding.decode_mask(record.unannotated_mask, f"{record.name} unannotated_mask")
    if mask is None:
        ignore = np.zeros((size // stride, size // stride), np.uint8)
    else:
        ignore = (augment.warp_mask(mask, matrix, size // stride, stride=stride) > 0).astype(np.uint8)
    if len(dropped.valid):
        ignore |= part_fields.support(
            dropped.keypoints, dropped.labelled, np.asarray(skeleton.limbs), ignore.shape,
            stride=stride, sigma=sigma, paf_width=paf_width,
        ).astype(np.uint8)  # fmt: skip
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
