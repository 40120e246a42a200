"""Student optimizer: the step schedule and frozen layers."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from experiments.configs.common import FREEZE_FIRST_FOUR
from ltsh_jax.train import optim


def _config(**overrides):
    config = ml_collections.ConfigDict(
        dict(learning_rate=5e-5, b1=0.8, b2=0.999, decay_every=20_000, decay_factor=0.33, freeze="")
    )
    config.update(overrides)
    return config


def _params():
    rng = np.random.default_rng(0)
    layer = lambda *shape: {"kernel": jnp.asarray(rng.normal(size=shape), jnp.float32), "bias": jnp.zeros(shape[-1])}
    backbone = {name: layer(3, 3, 2, 2) for name in ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")}
    return {"backbone": backbone, "stage1": {"L1": {"conv1": layer(1, 1, 2, 3)}}}


def test_schedule_steps_by_decay_factor():
    schedule = optim.learning_rate_schedule(_config())
    np.testing.assert_allclose(
        [schedule(0), schedule(19_999), schedule(20_000), schedule(45_000)], [5e-5, 5e-5, 5e-5 * 0.33, 5e-5 * 0.33**2]
    )


def test_frozen_layers_are_bit_identical_after_training():
    params = _params()
    optimizer = optim.make_student_optimizer(_config(freeze=FREEZE_FIRST_FOUR, learning_rate=0.1), params)
    state = optimizer.init(params)
    loss = lambda p: sum(jnp.sum(jnp.sin(x) ** 2) for x in jax.tree_util.tree_leaves(p))

    @jax.jit
    def step(p, s):
        updates, s = optimizer.update(jax.grad(loss)(p), s, p)
        return optax.apply_updates(p, updates), s

    trained = params
    for _ in range(5):
        trained, state = step(trained, state)
    for name in ("conv1_1", "conv1_2", "conv2_1", "conv2_2"):
        for leaf in ("kernel", "bias"):
            before = np.asarray(params["backbone"][name][leaf])
            after = np.asarray(trained["backbone"][name][leaf])
            assert before.tobytes() == after.tobytes(), f"{name}/{leaf} changed"
    assert not np.array_equal(trained["backbone"]["conv3_1"]["kernel"], params["backbone"]["conv3_1"]["kernel"])
    assert not np.array_equal(trained["stage1"]["L1"]["conv1"]["kernel"], params["stage1"]["L1"]["conv1"]["kernel"])


def test_regex_matching_nothing_is_an_error():
    with pytest.raises(ValueError, match="matches no parameter"):
        optim.make_student_optimizer(_config(freeze="^nothing/"), _params())


def test_labels_follow_paths():
    labels = optim.frozen_labels(_params(), FREEZE_FIRST_FOUR)
    assert labels["backbone"]["conv2_2"]["kernel"] == optim.FROZEN
    assert labels["backbone"]["conv3_1"]["bias"] == optim.TRAINABLE
