"""The student's train state and its one jitted step: targets on device, masked loss, Adam update.

The step is jitted once over the mesh with the batch split along 'data' and the state replicated;
the state's buffers are donated so a step needs no second copy of the parameters. An update whose
loss, gradients or resulting state are not finite is skipped on device (the state stays as it was)
and counted in the state, so non-finite numbers never enter the parameters (train/loop.py stops a run
whose updates keep being skipped).
"""

from __future__ import annotations

from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from ltsh_jax import sharding
from ltsh_jax.models.openpose import OpenPose, normalise_images
from ltsh_jax.skeleton import Skeleton
from ltsh_jax.train import losses, optim, targets


@flax.struct.dataclass
class TrainState:
    """Everything a resumed run needs: step counter, parameters, optimizer state, skipped-update counters."""

    step: jax.Array
    params: dict
    opt_state: optax.OptState
    skipped: jax.Array  # updates skipped so far because something was not finite
    skip_streak: jax.Array  # consecutive skipped updates ending at this step (0 after an applied update)


def create_train_state(
    params: dict,
    optimizer: optax.GradientTransformation,
    *,
    step: int = 0,
    opt_state: optax.OptState | None = None,
    mesh: Mesh | None = None,
    skipped: int = 0,
    skip_streak: int = 0,
) -> TrainState:
    """The state at `step` (a fresh optimizer state unless `opt_state` is given), replicated over `mesh` if given."""
    state = TrainState(
        step=jnp.asarray(step, jnp.int32),
        params=params,
        opt_state=optimizer.init(params) if opt_state is None else opt_state,
        skipped=jnp.asarray(skipped, jnp.int32),
        skip_streak=jnp.asarray(skip_streak, jnp.int32),
    )
    return state if mesh is None else jax.device_put(state, sharding.replicated(mesh))


def batch_targets(batch: dict, config: ml_collections.ConfigDict, skeleton: Skeleton) -> targets.Targets:
    """Heatmaps, PAFs and loss masks of a batch, built on device from its padded people."""
    size = config.data.input_size
    return targets.build_targets(
        batch["people"],
        batch["ignore_mask"],
        skeleton=skeleton,
        input_size=(size, size),
        stride=config.data.stride,
        sigma=config.targets.sigma,
        paf_width=config.targets.paf_width,
        mask_synthetic=config.targets.mask_synthetic,
        synthetic_threshold=config.targets.synthetic_threshold,
    )


def make_loss_fn(model: OpenPose, config: ml_collections.ConfigDict, skeleton: Skeleton) -> Callable:
    """(params, batch) -> (total loss, LossOutput), everything built from the batch on device."""
    size = config.data.input_size

    freeze = config.optim.freeze

    def loss_fn(params, batch):
        if freeze:
            # Frozen layers get no update anyway (optim.freeze); behind stop_gradient XLA also skips
            # their weight gradients and the backward pass below them (their gradients read as zero).
            params = jax.tree_util.tree_map(
                lambda label, p: jax.lax.stop_gradient(p) if label == optim.FROZEN else p,
                optim.frozen_labels(params, freeze),
                params,
            )
        batch_target = batch_targets(batch, config, skeleton)
        num_joints = losses.count_annotated_joints(
            batch["people"], (size, size), exclude_synthetic=config.targets.mask_synthetic
        )
        stages = model.apply({"params": params}, normalise_images(batch["image"]))
        out = losses.pose_loss(stages, batch_target, num_joints, batch["is_synthetic"])
        return out.total, out

    return loss_fn


def step_metrics(out: losses.LossOutput, grad_norm: jax.Array, state: TrainState) -> dict:
    """What the host logs (and what the teacher will read) from one step; `state` is the state after it."""
    return {
        "loss": out.total,
        "stage_losses": out.per_stage,
        "real_loss_per_joint": out.real_per_joint,
        "synthetic_loss_per_joint": out.synthetic_per_joint,
        "sample_loss_per_joint": out.per_sample_per_joint,
        "grad_norm": grad_norm,
        "skipped_updates": state.skipped,
        "skip_streak": state.skip_streak,
    }


def all_finite(tree) -> jax.Array:
    """One boolean: every number in `tree` is finite (integers always are)."""
    leaves = [jnp.isfinite(x).all() for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.stack(leaves).all() if leaves else jnp.asarray(True)


def guarded_update(state: TrainState, params, opt_state, ok: jax.Array) -> TrainState:
    """The state after one step: the update applied when `ok`, else skipped (old parameters and optimizer
    state kept) and counted."""

    def pick(new, old):
        return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)

    return state.replace(
        step=state.step + 1,
        params=pick(params, state.params),
        opt_state=pick(opt_state, state.opt_state),
        skipped=state.skipped + (~ok).astype(jnp.int32),
        skip_streak=jnp.where(ok, 0, state.skip_streak + 1),
    )


def make_train_step(
    model: OpenPose,
    optimizer: optax.GradientTransformation,
    config: ml_collections.ConfigDict,
    mesh: Mesh,
    skeleton: Skeleton,
) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """The jitted (state, batch) -> (state, metrics) over `mesh`; the input state is donated. A non-finite
    update is skipped and counted (`guarded_update`)."""
    loss_fn = make_loss_fn(model, config, skeleton)

    def train_step(state: TrainState, batch: dict):
        (_, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        grad_norm = optax.tree.norm(grads)
        ok = jnp.isfinite(out.total) & jnp.isfinite(grad_norm) & all_finite((params, opt_state))
        new_state = guarded_update(state, params, opt_state, ok)
        return new_state, step_metrics(out, grad_norm, new_state)

    return jax.jit(
        train_step,
        in_shardings=(sharding.replicated(mesh), sharding.batch_sharding(mesh)),
        out_shardings=(sharding.replicated(mesh), sharding.replicated(mesh)),
        donate_argnums=(0,),
    )


def make_eval_step(model: OpenPose, config: ml_collections.ConfigDict, mesh: Mesh, skeleton: Skeleton) -> Callable:
    """The jitted (params, batch) -> mean loss, for held-out crops."""
    loss_fn = make_loss_fn(model, config, skeleton)
    return jax.jit(
        lambda params, batch: loss_fn(params, batch)[0],
        in_shardings=(sharding.replicated(mesh), sharding.batch_sharding(mesh)),
        out_shardings=sharding.replicated(mesh),
    )
