"""Trained student -> people on whole images -> MPII multi-person AP.

The glue between the network (multi-scale, flip-averaged maps from `inference`), decoding
(`decode`) and the protocol (`evaluation`): one function per step so a binary, the demo and the
table reproduction share them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import tqdm

from ltsh_jax import decode, inference
from ltsh_jax.datasets import MultiPersonExample
from ltsh_jax.evaluation import groups, mpii_ap, visibility
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage
from ltsh_jax.skeleton import Skeleton


@dataclasses.dataclass(frozen=True)
class ImageResult:
    """One image's annotated people and what the student found (MPII-16 for scoring, parts for drawing)."""

    ground_truth: GroundTruthImage
    unscored_people: int  # annotated people without a head box, left out of the ground truth
    people: decode.DecodedPeople


def ground_truth_of(example: MultiPersonExample) -> tuple[GroundTruthImage, int]:
    """The example's annotated people as a GroundTruthImage, and how many were dropped for lack of a head box."""
    keep = np.isfinite(example.head_box).all(axis=1) & (example.visibility > 0).any(axis=1)
    gt = GroundTruthImage(
        name=example.filename,
        keypoints=example.keypoints[keep].astype(np.float64),
        present=example.visibility[keep] > 0,
        visible=example.visibility[keep] == 2,
        head_boxes=example.head_box[keep].astype(np.float64),
        groups=example.group_id[keep].astype(np.int64),
    )
    return gt, int((~keep).sum())


def to_prediction(name: str, people: decode.DecodedPeople) -> PredictionImage:
    """Decoded people in the evaluation's record."""
    return PredictionImage(
        name=name,
        keypoints=people.keypoints.astype(np.float64),
        present=people.scores > 0,
        scores=people.scores.astype(np.float64),
        person_scores=people.person_scores.astype(np.float64),
    )


def predict_examples(
    apply_fn: Callable,
    params,
    examples: Iterable[MultiPersonExample],
    *,
    skeleton: Skeleton,
    scales: Sequence[float] = (0.7, 1.0, 1.3),
    flip: bool = True,
    stride: int = 8,
    base_size: int = 368,
    decode_params: decode.DecodeParams | None = None,
    total: int | None = None,
) -> list[ImageResult]:
    """Runs the student on whole images and decodes its people (a progress bar over images)."""
    out = []
    for example in tqdm.tqdm(examples, total=total, desc="predict", unit="image", mininterval=2):
        heatmaps, pafs = inference.predict_maps(
            apply_fn, params, example.image, skeleton=skeleton, scales=scales, flip=flip, stride=stride,
            base_size=base_size,
        )  # fmt: skip
        people = decode.decode(
            heatmaps, pafs, skeleton=skeleton, input_size=example.image.shape[:2], stride=stride,
            params=decode_params or decode.DecodeParams(),
        )  # fmt: skip
        out.append(ImageResult(*ground_truth_of(example), people))
    return out


def score(
    ground_truth: Sequence[GroundTruthImage], predictions: Sequence[PredictionImage], *, multi_person_groups: bool
) -> tuple[mpii_ap.MPIIResult, list[visibility.VisibilityBin]]:
    """AP (and the Figure 6 visibility breakdown) of aligned predictions.

    With `multi_person_groups`, only the people of MPII's multi-person groups are scored, with the
    predictions inside each group's area (the official protocol); otherwise every annotated person.
    """
    if multi_person_groups:
        ground_truth, predictions = groups.restrict_to_groups(ground_truth, predictions)
        if not ground_truth:
            raise ValueError(
                "no annotated person belongs to a multi-person group: score with multi_person_groups=False"
            )
    result = mpii_ap.evaluate(ground_truth, predictions)
    return result, visibility.visibility_bins(result.assignment)
