"""Tests of the masked multi-stage L2 loss and of the joint count it is normalised by."""

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ltsh_jax.models.openpose import StageOutput
from ltsh_jax.people import People
from ltsh_jax.train.losses import LossOutput, count_annotated_joints, pose_loss


@flax.struct.dataclass
class FakeTargets:
    """Stand-in for train.targets.Targets with the four fields the loss reads (a pytree, so it can be jitted)."""

    pafs: jax.Array
    heatmaps: jax.Array
    paf_mask: jax.Array
    heatmap_mask: jax.Array


def targets_like(pafs, heatmaps, paf_mask=None, heatmap_mask=None):
    return FakeTargets(
        pafs=jnp.asarray(pafs, jnp.float32),
        heatmaps=jnp.asarray(heatmaps, jnp.float32),
        paf_mask=jnp.ones(np.shape(pafs), jnp.float32) if paf_mask is None else jnp.asarray(paf_mask, jnp.float32),
        heatmap_mask=(
            jnp.ones(np.shape(heatmaps), jnp.float32)
            if heatmap_mask is None
            else jnp.asarray(heatmap_mask, jnp.float32)
        ),
    )


def hand_example():
    """One sample, 2x2 maps, 2 PAF channels and 1 heatmap channel; the heatmap cell (1, 1) is masked."""
    heat_pred = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    paf_pred = jnp.ones((1, 2, 2, 2))
    heat_mask = np.ones((1, 2, 2, 1), np.float32)
    heat_mask[0, 1, 1, 0] = 0.0
    targets = targets_like(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 2, 1)), heatmap_mask=heat_mask)
    # Stage 2: PAFs exact, heatmaps off by 0.5 at (0, 0) only.
    stage2 = StageOutput(pafs=jnp.zeros((1, 2, 2, 2)), heatmaps=jnp.zeros((1, 2, 2, 1)).at[0, 0, 0, 0].set(0.5))
    return [StageOutput(paf_pred, heat_pred), stage2], targets


def test_hand_computed_two_stages():
    stages, targets = hand_example()
    out = pose_loss(stages, targets, num_joints=jnp.array([4]), is_synthetic=jnp.array([False]))
    assert isinstance(out, LossOutput)
    # Stage 1: PAFs 0.5 * 8 * 1^2 = 4; heatmaps 0.5 * (1 + 4 + 9) = 7 (the 4 is masked). Stage 2: 0.5 * 0.25.
    np.testing.assert_allclose(out.per_stage, [11.0, 0.125])
    np.testing.assert_allclose(out.per_sample, [11.125])
    np.testing.assert_allclose(out.total, 11.125)
    # The loss per joint is the last stage's, as the paper's teacher reads it (train_with_adversarial_teacher.py).
    np.testing.assert_allclose(out.per_sample_per_joint, [0.125 / 4])
    np.testing.assert_allclose(out.real_per_joint, 0.125 / 4)
    assert float(out.synthetic_per_joint) == 0.0
    for leaf in jax.tree_util.tree_leaves(out):
        assert leaf.dtype == jnp.float32


def test_masked_cells_contribute_nothing_and_get_no_gradient():
    stages, targets = hand_example()
    args = dict(targets=targets, num_joints=jnp.array([4]), is_synthetic=jnp.array([False]))
    base = pose_loss(stages, **args).total
    moved = [StageOutput(s.pafs, s.heatmaps.at[0, 1, 1, 0].set(1e3)) for s in stages]
    assert float(pose_loss(moved, **args).total) == float(base)

    grads = jax.grad(lambda st: pose_loss(st, **args).total)(stages)
    for g in grads:
        assert float(g.heatmaps[0, 1, 1, 0]) == 0.0
    # Unmasked cells do get the L2 gradient, (pred - target) / B.
    np.testing.assert_allclose(grads[0].heatmaps[0, :, :, 0], [[1.0, 2.0], [3.0, 0.0]])
    np.testing.assert_allclose(grads[0].pafs, np.ones((1, 2, 2, 2)))


def test_paf_mask_is_applied_per_channel():
    pafs = np.zeros((1, 2, 2, 2))
    pred = StageOutput(pafs=jnp.full((1, 2, 2, 2), 2.0), heatmaps=jnp.zeros((1, 2, 2, 1)))
    paf_mask = np.ones((1, 2, 2, 2))
    paf_mask[..., 1] = 0.0  # the y channel does not count anywhere
    out = pose_loss(
        [pred], targets_like(pafs, np.zeros((1, 2, 2, 1)), paf_mask=paf_mask), jnp.array([1]), jnp.array([False])
    )
    np.testing.assert_allclose(out.total, 0.5 * 4 * 4.0)


def batch_with_known_losses(per_sample_values):
    """Stage outputs whose per-sample loss is exactly per_sample_values (one heatmap cell each)."""
    b = len(per_sample_values)
    heat = np.zeros((b, 1, 1, 1), np.float32)
    heat[:, 0, 0, 0] = np.sqrt(2.0 * np.asarray(per_sample_values))
    stage = StageOutput(pafs=jnp.zeros((b, 1, 1, 2)), heatmaps=jnp.asarray(heat))
    return [stage], targets_like(np.zeros((b, 1, 1, 2)), np.zeros((b, 1, 1, 1)))


def test_real_synthetic_split_and_zero_joint_samples():
    losses = [8.0, 12.0, 3.0, 20.0]
    stages, targets = batch_with_known_losses(losses)
    num_joints = jnp.array([2, 4, 0, 5])
    is_synthetic = jnp.array([False, True, False, True])
    out = jax.jit(pose_loss)(stages, targets, num_joints, is_synthetic)
    np.testing.assert_allclose(out.per_sample, losses, rtol=1e-6)
    np.testing.assert_allclose(out.total, np.mean(losses), rtol=1e-6)
    per_joint = [4.0, 3.0, 3.0, 4.0]  # the zero-joint sample is divided by 1, not 0
    np.testing.assert_allclose(out.per_sample_per_joint, per_joint, rtol=1e-6)
    np.testing.assert_allclose(out.real_per_joint, (4.0 + 3.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(out.synthetic_per_joint, (3.0 + 4.0) / 2, rtol=1e-6)


def test_all_real_batch_has_zero_synthetic_loss_not_nan():
    stages, targets = batch_with_known_losses([1.0, 5.0])
    out = pose_loss(stages, targets, jnp.array([0, 0]), jnp.array([False, False]))
    assert float(out.synthetic_per_joint) == 0.0
    np.testing.assert_allclose(out.real_per_joint, 3.0, rtol=1e-6)
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree_util.tree_leaves(out))


def test_bfloat16_predictions_are_scored_in_float32():
    stages, targets = hand_example()
    low = [StageOutput(s.pafs.astype(jnp.bfloat16), s.heatmaps.astype(jnp.bfloat16)) for s in stages]
    out = pose_loss(low, targets, jnp.array([4]), jnp.array([True]))
    assert out.total.dtype == jnp.float32
    np.testing.assert_allclose(out.total, 11.125)
    np.testing.assert_allclose(out.synthetic_per_joint, 0.125 / 4)


def test_shape_mismatch_is_an_error():
    stages, targets = hand_example()
    wrong = [StageOutput(jnp.zeros((1, 3, 3, 2)), jnp.zeros((1, 3, 3, 1)))]
    with pytest.raises(ValueError, match="stage 1 pafs"):
        pose_loss(wrong, targets, jnp.array([1]), jnp.array([False]))


def test_count_annotated_joints():
    height, width = 20, 40  # non-square, so swapping x and y would change the count
    kp = np.zeros((2, 2, 4, 2), np.float32)
    labelled = np.ones((2, 2, 4), bool)
    valid = np.array([[True, True], [True, False]])
    # Sample 0, person 0: inside, inside (x beyond the height but below the width), x = width (outside), y < 0.
    kp[0, 0] = [[5, 5], [30, 10], [40, 10], [5, -0.5]]
    # Sample 0, person 1: inside but the second and third joints are unlabelled; last is y = height (outside).
    kp[0, 1] = [[0, 0], [1, 1], [2, 2], [5, 20]]
    labelled[0, 1, 1:3] = False
    # Sample 1, person 0: (x, y) = (10, 30) is outside (y > height), the rest inside. Person 1 is an empty slot.
    kp[1, 0] = [[10, 30], [39.5, 19.5], [0, 19], [20, 0]]
    kp[1, 1] = [[1, 1], [2, 2], [3, 3], [4, 4]]
    people = People(
        keypoints=jnp.asarray(kp),
        labelled=jnp.asarray(labelled),
        valid=jnp.asarray(valid),
        is_synthetic=jnp.zeros((2, 2), bool),
    )
    counts = count_annotated_joints(people, (height, width))
    assert counts.dtype == jnp.int32
    np.testing.assert_array_equal(counts, [2 + 1, 3])
    np.testing.assert_array_equal(jax.jit(count_annotated_joints, static_argnums=1)(people, (height, width)), [3, 3])


def test_synthetic_people_joints_are_left_out_under_masks():
    """Under "+masks" the reference divides by the real people's joints only (pose_dataset_personLevel_minDist.py)."""
    kp = np.full((1, 3, 4, 2), 5.0, np.float32)  # every joint inside a 10 x 10 crop
    labelled = np.array([[[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]], bool)  # 2, 3 and 4 joints
    people = People(keypoints=jnp.asarray(kp), labelled=jnp.asarray(labelled), valid=jnp.ones((1, 3), bool),
                    is_synthetic=jnp.array([[False, True, False]]))  # fmt: skip
    np.testing.assert_array_equal(count_annotated_joints(people, (10, 10)), [2 + 3 + 4])
    np.testing.assert_array_equal(count_annotated_joints(people, (10, 10), exclude_synthetic=True), [2 + 4])
