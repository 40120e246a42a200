"""Tests of ltsh_jax.teacher.update (Eq. 1, Eq. 2, KL, the optax transform, group choice) and the teacher network.

The reference gradients are jax.grad of KL(P || P~) written here from the paper's formulas, with P from
Eq. 2 and delta from Eq. 1 computed by hand, for the reward and the penalty case.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ltsh_jax.models.teacher import Teacher, init_teacher_params
from ltsh_jax.teacher import update

ALPHA = 0.01
MASK = np.array([True, True, False, True, True])  # group 2 is empty


def _reference_probs(logits, mask):
    """Softmax over the non-empty groups only, 0 elsewhere (written without the library)."""
    e = jnp.where(mask, jnp.exp(logits - jnp.max(jnp.where(mask, logits, -1e9))), 0.0)
    return e / jnp.sum(e)


def _reference_target(probs, chosen, delta, alpha, mask):
    """Eq. 2 over the non-empty groups: P_i = P~_i + d a P~_i; P_j = P~_j - d a P~_i / (|g| - 1)."""
    g = int(np.sum(mask))
    out = []
    for j in range(len(mask)):
        if not mask[j]:
            out.append(0.0)
        elif j == chosen:
            out.append(probs[j] + delta * alpha * probs[chosen])
        else:
            out.append(probs[j] - delta * alpha * probs[chosen] / (g - 1))
    return jnp.stack([jnp.asarray(v, jnp.float32) for v in out])


def _reference_kl_grad(logits_fn, params, chosen, delta, mask):
    """jax.grad over params of KL(P || P~) = sum_j P_j log(P_j / P~_j), P fixed (computed from P~ at params)."""
    target = _reference_target(_reference_probs(logits_fn(params), mask), chosen, delta, ALPHA, mask)
    idx = np.flatnonzero(mask)

    def kl(p):
        q = _reference_probs(logits_fn(p), mask)
        return jnp.sum(target[idx] * jnp.log(target[idx] / q[idx]))

    return jax.grad(kl)(params)


def test_reward_sign_against_hand_values():
    history = jnp.array([3.0, 1.0, 2.0, 0.0], jnp.float32)  # newest first; only the first `count` count
    assert float(update.reward_sign(2.0, history, 3)) == 1.0  # mean(3, 1, 2) = 2 <= 2
    assert float(update.reward_sign(1.9, history, 3)) == -1.0
    assert float(update.reward_sign(2.5, history, 1)) == -1.0  # mean(3) = 3
    assert float(update.reward_sign(1.5, history, 4)) == 1.0  # mean(3, 1, 2, 0) = 1.5
    assert float(update.reward_sign(5.0, history, 0)) == 0.0  # no history: no signal


def test_pseudo_target_hand_computed():
    probs = jnp.array([0.5, 0.3, 0.0, 0.2])
    mask = np.array([True, True, False, True])
    reward = update.pseudo_target(probs, 0, 1.0, 0.1, mask)  # step 0.05, others -0.025 each
    np.testing.assert_allclose(reward, [0.55, 0.275, 0.0, 0.175], atol=1e-7)
    penalty = update.pseudo_target(probs, 1, -1.0, 0.1, mask)  # step -0.03, others +0.015 each
    np.testing.assert_allclose(penalty, [0.515, 0.27, 0.0, 0.215], atol=1e-7)
    for p in (reward, penalty):
        assert math.isclose(float(p.sum()), 1.0, abs_tol=1e-6)


def test_masked_probs_zero_on_empty_groups():
    logits = jnp.array([1.0, 2.0, 50.0, 0.5, -1.0])
    probs = update.masked_probs(logits, MASK)
    assert float(probs[2]) == 0.0
    np.testing.assert_allclose(probs, _reference_probs(logits, MASK), rtol=1e-6)


@pytest.mark.parametrize(("loss", "delta"), [(2.5, 1.0), (1.5, -1.0)])
def test_transform_equals_autodiff_of_kl_wrt_logits(loss, delta):
    logits = jnp.array([0.3, -1.2, 0.0, 0.8, 0.1])
    chosen = 3
    tx = update.reward_sign_transform(history=4)
    state = tx.init(logits)
    state = state._replace(history=jnp.array([2.0, 1.0, 3.0, 0.0]), count=jnp.array(3, jnp.int32))  # mean 2
    reward_grad = jax.grad(update.reward_loss)(logits, chosen, ALPHA, MASK)
    updates, new_state = tx.update(reward_grad, state, logits, synthetic_loss=loss)
    expected = _reference_kl_grad(lambda x: x, logits, chosen, delta, MASK)
    np.testing.assert_allclose(updates, expected, rtol=1e-4, atol=2e-8)
    assert float(updates[2]) == 0.0  # the empty group is neither rewarded nor penalised
    assert float(new_state.delta) == delta
    np.testing.assert_allclose(new_state.history, [loss, 2.0, 1.0, 3.0])
    assert int(new_state.count) == 4


@pytest.mark.parametrize(("loss", "delta"), [(10.0, 1.0), (0.1, -1.0)])
def test_transform_equals_autodiff_of_kl_wrt_params_inside_chain_under_jit(loss, delta):
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(6, 5)), jnp.float32), "b": jnp.zeros(5, jnp.float32)}
    x = jnp.asarray(rng.normal(size=6), jnp.float32)

    def logits_fn(p):
        return x @ p["w"] + p["b"]

    chosen = 1
    tx = optax.chain(update.reward_sign_transform(history=3), optax.sgd(1.0))
    state = tx.init(params)
    state = (state[0]._replace(history=jnp.array([1.0, 1.0, 1.0]), count=jnp.array(3, jnp.int32)), state[1])

    @jax.jit
    def apply_update(state, loss):
        grads = jax.grad(lambda p: update.reward_loss(logits_fn(p), chosen, ALPHA, MASK))(params)
        return tx.update(grads, state, params, synthetic_loss=loss)

    updates, _ = apply_update(state, loss)
    expected = _reference_kl_grad(logits_fn, params, chosen, delta, MASK)
    jax.tree_util.tree_map(lambda u, e: np.testing.assert_allclose(-u, e, rtol=1e-4, atol=2e-8), updates, expected)


def test_state_keeps_shapes_and_dtypes_and_history_order():
    tx = update.teacher_optimizer(1e-3, history=3)
    params = {"w": jnp.ones((2, 3))}
    state = tx.init(params)
    spec = jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), state)
    apply_update = jax.jit(lambda s, loss: tx.update({"w": jnp.full((2, 3), 0.5)}, s, params, synthetic_loss=loss))
    deltas = []
    for loss in (1.0, 2.0, 0.5, 4.0, 3.0):
        _, state = apply_update(state, loss)
        assert jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), state) == spec
        deltas.append(float(update.last_delta(state)))
    assert deltas == [0.0, 1.0, -1.0, 1.0, 1.0]  # 3 >= mean(4, 0.5, 2)
    np.testing.assert_allclose(update.reward_state(state).history, [3.0, 4.0, 0.5])
    assert apply_update._cache_size() == 1  # one compilation: no shape or dtype drift


def test_bad_history_is_a_clear_error():
    with pytest.raises(ValueError, match="history"):
        update.reward_sign_transform(0)
    with pytest.raises(ValueError, match=r"config.teacher.eps=1.5"):
        update.check_fraction(1.5, "config.teacher.eps")


def test_choose_group_never_picks_empty_groups_and_mixes_uniform():
    probs = jnp.array([0.0, 0.0, 0.0, 1.0, 0.0])  # a fully confident teacher
    keys = jax.random.split(jax.random.key(0), 4000)
    draws = np.asarray(jax.vmap(lambda k: update.choose_group(k, probs, MASK, 0.2))(keys))
    counts = np.bincount(draws, minlength=5) / len(draws)
    assert counts[2] == 0.0
    # P(group 3) = 0.8 + 0.2/4, every other non-empty group 0.2/4 = 0.05
    np.testing.assert_allclose(counts[[0, 1, 3, 4]], [0.05, 0.05, 0.85, 0.05], atol=0.02)
    greedy = np.asarray(jax.vmap(lambda k: update.choose_group(k, probs, MASK, 0.0))(keys[:100]))
    assert (greedy == 3).all()


def test_teacher_network_shapes_and_paper_size():
    tiny = Teacher(num_groups=7, width=0.0625)
    params = init_teacher_params(tiny, 32, seed=0)
    assert jax.jit(tiny.apply)({"params": params}, jnp.ones((3, 32, 32, 3))).shape == (3, 7)
    kernel = np.asarray(params["head"]["fc1"]["kernel"])  # LeCun normal: std 1 / sqrt(fan_in), within 2 std
    fan_in = kernel.shape[0]
    assert abs(kernel.std() * np.sqrt(fan_in) - 1.0) < 0.1 and np.abs(kernel).max() <= 2 / np.sqrt(fan_in) / 0.8796
    assert not np.asarray(params["head"]["fc1"]["bias"]).any()
    again = init_teacher_params(tiny, 32, seed=0)
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, again)
    paper = jax.eval_shape(lambda: Teacher(num_groups=10).init(jax.random.key(0), jnp.zeros((1, 368, 368, 3))))
    vgg = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256), (256, 512),
           (512, 512), (512, 256), (256, 128), (128, 64), (64, 64)]  # fmt: skip
    convs = sum(9 * i * o + o for i, o in vgg)
    fcs = (12 * 12 * 64) * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10  # 368 / 8 = 46 -> 23 -> 12
    assert sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(paper["params"])) == convs + fcs
    assert paper["params"]["head"]["fc1"]["kernel"].shape == (12 * 12 * 64, 512)
