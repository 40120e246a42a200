"""The student's train state and its one jitted step: targets on device, masked loss, Adam update.

The step is jitted once over the mesh with the batch split along 'data' and the state replicated;
the state's buffers are donated so a step needs no second copy of the parameters.
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
    """Everything a resumed run needs: step counter, parameters, optimizer state."""

    step: jax.Array
    params: dict
    opt_state: optax.OptState


def create_train_state(
    params: dict,
    optimizer: optax.GradientTransformation,
    *,
    step: int = 0,
    opt_state: optax.OptState | None = None,
    mesh: Mesh | None = None,
) -> TrainState:
    """The state at `step` (a fresh optimizer state unless `opt_state` is given), replicated over `mesh` if given."""
    state = TrainState(
        step=jnp.asarray(step, jnp.int32),
        params=params,
        opt_state=optimizer.init(params) if opt_state is None else opt_state,
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


def step_metrics(out: losses.LossOutput, grads) -> dict:
    """What the host logs (and what the teacher will read) from one step."""
    return {
        "loss": out.total,
        "stage_losses": out.per_stage,
        "real_loss_per_joint": out.real_per_joint,
        "synthetic_loss_per_joint": out.synthetic_per_joint,
        "sample_loss_per_joint": out.per_sample_per_joint,
        "grad_norm": optax.tree.norm(grads),
    }


def make_train_step(
    model: OpenPose,
    optimizer: optax.GradientTransformation,
    config: ml_collections.ConfigDict,
    mesh: Mesh,
    skeleton: Skeleton,
) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """The jitted (state, batch) -> (state, metrics) over `mesh`; the input state is donated."""
    loss_fn = make_loss_fn(model, config, skeleton)

    def train_step(state: TrainState, batch: dict):
        (_, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state, step_metrics(out, grads)

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
