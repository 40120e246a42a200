"""Masked multi-stage L2 loss of OpenPose, with the per-sample loss per joint the teacher needs.

Every stage is supervised (intermediate supervision) and the stage losses are summed. Masks zero
the loss where annotations are missing (unannotated people) or, for the "+masks" experiments, where
synthetic humans are. The loss per annotated joint lets images with many and few people be compared
(teacher input choice and reward, paper section 4.1); as in the paper's code it is the last stage's
loss (DavHoffmann/LearningToTrainWithSyntheticHumans tf_pose/train_with_adversarial_teacher.py,
`sample_loss_ll_normed`), over joints that exclude synthetic people's under "+masks"
(tf_pose/pose_dataset_personLevel_minDist.py, `nr_joints`). The reference averages the PAF and heatmap
terms where we sum them: a factor 2 that no comparison of these values sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import flax.struct
import jax
import jax.numpy as jnp

from ltsh_jax.models.openpose import StageOutput
from ltsh_jax.people import People


class MapTargets(Protocol):
    """What the loss reads from `ltsh_jax.train.targets.Targets`: float32 [B, h, w, C] maps and masks."""

    heatmaps: jax.Array
    pafs: jax.Array
    heatmap_mask: jax.Array
    paf_mask: jax.Array


@flax.struct.dataclass
class LossOutput:
    """The loss and its breakdowns; all float32.

    Attributes:
      total: scalar, mean over samples of the per-sample loss (summed over stages): what is minimised.
      per_stage: [S], mean over samples of each stage's loss.
      per_sample: [B], per-sample loss summed over stages.
      per_sample_per_joint: [B], the last stage's per-sample loss / max(annotated joints in the crop, 1).
      real_per_joint: scalar, mean of per_sample_per_joint over real samples (0 if there are none).
      synthetic_per_joint: scalar, the same over synthetic samples (0 if there are none).
    """

    total: jax.Array
    per_stage: jax.Array
    per_sample: jax.Array
    per_sample_per_joint: jax.Array
    real_per_joint: jax.Array
    synthetic_per_joint: jax.Array


def _masked_l2(pred: jax.Array, target: jax.Array, mask: jax.Array, what: str) -> jax.Array:
    """0.5 * sum over cells and channels of mask * (pred - target)^2 -> [B]."""
    if pred.shape != target.shape:
        raise ValueError(f"{what}: prediction shape {pred.shape} != target shape {target.shape}")
    diff = pred.astype(jnp.float32) - target.astype(jnp.float32)
    sq = mask.astype(jnp.float32) * jnp.square(diff)
    return 0.5 * jnp.sum(sq, axis=tuple(range(1, sq.ndim)))


def _masked_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    """Mean of values where weights is 1; 0 when no weight is set."""
    count = jnp.sum(weights)
    return jnp.sum(values * weights) / jnp.maximum(count, 1.0)


def pose_loss(
    stages: Sequence[StageOutput], targets: MapTargets, num_joints: jax.Array, is_synthetic: jax.Array
) -> LossOutput:
    """The OpenPose loss, summed over stages, with its breakdowns; jit-able.

    Args:
      stages: the model's outputs, one `StageOutput` per stage, maps [B, h, w, C].
      targets: heatmaps, pafs and their masks (same shapes as the predictions; 1 = counts).
      num_joints: [B], annotated joints per crop (`count_annotated_joints`): what the last stage's loss
        is divided by for the loss per joint.
      is_synthetic: [B] bool, the sample comes from a synthetic dataset.
    """
    if not stages:
        raise ValueError("pose_loss needs at least one stage")
    per_stage_sample = jnp.stack(
        [
            _masked_l2(s.pafs, targets.pafs, targets.paf_mask, f"stage {i + 1} pafs")
            + _masked_l2(s.heatmaps, targets.heatmaps, targets.heatmap_mask, f"stage {i + 1} heatmaps")
            for i, s in enumerate(stages)
        ]
    )  # [S, B]
    per_sample = jnp.sum(per_stage_sample, axis=0)
    per_joint = per_stage_sample[-1] / jnp.maximum(jnp.asarray(num_joints, jnp.float32), 1.0)
    synthetic = jnp.asarray(is_synthetic, bool).astype(jnp.float32)
    return LossOutput(
        total=jnp.mean(per_sample),
        per_stage=jnp.mean(per_stage_sample, axis=1),
        per_sample=per_sample,
        per_sample_per_joint=per_joint,
        real_per_joint=_masked_mean(per_joint, 1.0 - synthetic),
        synthetic_per_joint=_masked_mean(per_joint, synthetic),
    )


def count_annotated_joints(
    people: People, input_size: tuple[int, int], *, exclude_synthetic: bool = False
) -> jax.Array:
    """[B] int32: joints that are labelled, of a valid person, and inside the crop.

    input_size is the crop's (height, width) in pixels; a keypoint (x, y) is inside when
    0 <= x < width and 0 <= y < height. `people` has fields [B, P, ...]. exclude_synthetic: leave out
    the joints of synthetic people (under "+masks", whose loss there is masked, as the reference does).
    """
    height, width = input_size
    x = people.keypoints[..., 0]
    y = people.keypoints[..., 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    person = jnp.asarray(people.valid, bool)
    if exclude_synthetic:
        person = person & ~jnp.asarray(people.is_synthetic, bool)
    counted = inside & jnp.asarray(people.labelled, bool) & person[..., None]
    return jnp.sum(counted, axis=(-2, -1)).astype(jnp.int32)
