"""The teacher's update rule (paper section 4.1) as pure JAX functions and one optax transform.

Eq. 1, reward sign: delta = +1 if the current mean synthetic loss per joint L_t >= the mean of the
last H values L_{t-1} .. L_{t-H}, else -1 (0 while there is no history yet: no signal, no update).
Eq. 2, pseudo target: P_i = P~_i + delta alpha P~_i for the chosen group i and
P_j = P~_j - delta alpha P~_i / (|g| - 1) for the others, |g| counting the non-empty groups only
(empty groups are masked: P~_j = P_j = 0, so they are neither chosen nor penalised -- the reference
script gave them a fake penalty). The teacher minimises KL(P || P~) with P held fixed.

Why a transform: dKL/dlogits = P~ - P = -delta alpha P~_i (e_i - (1 - e_i) / (|g| - 1)), delta times a
direction that does not depend on the reward. So the caller computes the gradient of the *reward*
case, KL(P_{+1} || P~) (`reward_loss`), and `reward_sign_transform` -- whose state carries the loss
history H -- turns it into the gradient of the case that actually happened by multiplying by delta.
It chains with the teacher's own Adam: `teacher_optimizer` = named_chain(reward sign, adam), whose
state is read by name (`reward_state`). The reference
script trained the teacher with the student's optimizer; here the two never share state.

Eq. 2 can leave an entry of P slightly negative (P~_j < alpha P~_i / (|g| - 1), a very peaked teacher);
the gradient P~ - P is still exact, and the KL value then uses max(P, 0) in its constant entropy term.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

# Logit of an empty group: finite (no inf * 0 = NaN in values or gradients), exp() of it is exactly 0.
_MASKED = -1e30


def check_fraction(value: float, name: str) -> float:
    """value as float; ValueError naming the config field when it is outside [0, 1]."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value} must lie in [0, 1]")
    return value


def masked_probs(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """P~: softmax over the groups where mask is True, exactly 0 elsewhere. logits [..., G], mask bool [G]."""
    return jax.nn.softmax(jnp.where(mask, logits, _MASKED), axis=-1)


def reward_sign(loss: jax.Array, history: jax.Array, count: jax.Array) -> jax.Array:
    """Eq. 1: +1.0 if loss >= mean of the `count` newest entries of history[:count] (newest first), else -1.0;
    0.0 when count == 0."""
    valid = jnp.arange(history.shape[0]) < count
    mean = jnp.sum(jnp.where(valid, history, 0.0)) / jnp.maximum(count, 1)
    return jnp.where(count > 0, jnp.where(loss >= mean, 1.0, -1.0), 0.0).astype(jnp.float32)


def pseudo_target(probs: jax.Array, chosen: jax.Array, delta: jax.Array, alpha: float, mask: jax.Array) -> jax.Array:
    """Eq. 2: P from P~ [G], the chosen group, delta and alpha; masked groups stay 0."""
    num = jnp.sum(mask)
    is_chosen = jnp.arange(probs.shape[-1]) == chosen
    step = delta * alpha * probs[chosen]
    others = probs - step / jnp.maximum(num - 1, 1)
    return jnp.where(is_chosen, probs + step, jnp.where(mask, others, 0.0))


def kl_divergence(target: jax.Array, logits: jax.Array, mask: jax.Array) -> jax.Array:
    """KL(P || P~) with P = target held fixed and P~ = masked softmax(logits); sums over the masked groups."""
    target = jax.lax.stop_gradient(target)
    log_probs = jax.nn.log_softmax(jnp.where(mask, logits, _MASKED), axis=-1)
    cross = -jnp.sum(jnp.where(mask, target * log_probs, 0.0))
    entropy = -jnp.sum(jnp.where(mask, jax.scipy.special.xlogy(jnp.maximum(target, 0.0), target), 0.0))
    return cross - entropy


def reward_loss(logits: jax.Array, chosen: jax.Array, alpha: float, mask: jax.Array) -> jax.Array:
    """KL(P_{+1} || P~): the teacher's loss had it been rewarded (the transform applies the true sign)."""
    probs = jax.lax.stop_gradient(masked_probs(logits, mask))
    return kl_divergence(pseudo_target(probs, chosen, 1.0, alpha, mask), logits, mask)


class RewardSignState(NamedTuple):
    """The loss history of Eq. 1 (newest first), how many entries are filled, and the last delta."""

    history: jax.Array  # float32 [H]
    count: jax.Array  # int32 scalar, <= H
    delta: jax.Array  # float32 scalar: the sign applied by the last update


def reward_sign_transform(history: int) -> optax.GradientTransformationExtraArgs:
    """Scales the reward-case gradient by delta (Eq. 1 over the last `history` losses), then records the loss.

    update(updates, state, params=None, *, synthetic_loss): synthetic_loss is L_t, the mean synthetic
    loss per joint over the N student steps that followed the choice being judged.
    """
    if int(history) < 1:
        raise ValueError(f"config.teacher.history={history} must be >= 1")
    size = int(history)

    def init_fn(params) -> RewardSignState:
        del params
        return RewardSignState(jnp.zeros(size, jnp.float32), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float32))

    def update_fn(updates, state: RewardSignState, params=None, *, synthetic_loss, **extra):
        del params, extra
        loss = jnp.asarray(synthetic_loss, jnp.float32)
        delta = reward_sign(loss, state.history, state.count)
        updates = jax.tree_util.tree_map(lambda g: (delta * g).astype(g.dtype), updates)
        history = jnp.concatenate([loss[None], state.history[:-1]])
        count = jnp.minimum(state.count + 1, size).astype(jnp.int32)
        return updates, RewardSignState(history, count, delta)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# Name of the reward-sign state in a `teacher_optimizer` state.
REWARD_SIGN = "reward_sign"


def teacher_optimizer(learning_rate: float, history: int) -> optax.GradientTransformationExtraArgs:
    """The teacher's own optimizer: named_chain(REWARD_SIGN: reward sign with history H, "adam": Adam(lr))."""
    return optax.named_chain((REWARD_SIGN, reward_sign_transform(history)), ("adam", optax.adam(learning_rate)))


def reward_state(opt_state) -> RewardSignState:
    """The loss history and last delta inside a `teacher_optimizer` state."""
    return opt_state[REWARD_SIGN]


def last_delta(opt_state) -> jax.Array:
    """The delta of the last update, read from a `teacher_optimizer` state."""
    return reward_state(opt_state).delta


def choose_group(key: jax.Array, probs: jax.Array, mask: jax.Array, eps: float) -> jax.Array:
    """int32 group: drawn from P~, or uniformly over the non-empty groups with probability eps."""
    explore_key, draw_key = jax.random.split(key)
    uniform = jnp.where(mask, 1.0, 0.0) / jnp.sum(mask)
    weights = jnp.where(jax.random.uniform(explore_key) < eps, uniform, probs)
    return jax.random.categorical(draw_key, jnp.where(weights > 0, jnp.log(weights), -jnp.inf)).astype(jnp.int32)
