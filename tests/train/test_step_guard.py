"""The jitted step's guard: a non-finite update is skipped (state kept) and counted; good ones apply."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ltsh_jax.train import health
from ltsh_jax.train.step import all_finite, create_train_state, guarded_update


def _state():
    params = {"w": jnp.ones(3)}
    return create_train_state(params, optax.adam(1.0))


def test_skipped_update_keeps_the_state_and_counts_the_streak():
    state = _state()
    bad = {"w": jnp.array([1.0, jnp.nan, 2.0])}
    state = guarded_update(state, bad, state.opt_state, all_finite(bad))
    state = guarded_update(state, bad, state.opt_state, all_finite(bad))
    np.testing.assert_array_equal(state.params["w"], np.ones(3))
    assert (int(state.step), int(state.skipped), int(state.skip_streak)) == (2, 2, 2)

    good = {"w": jnp.full(3, 5.0)}
    state = guarded_update(state, good, state.opt_state, all_finite(good))
    np.testing.assert_array_equal(state.params["w"], np.full(3, 5.0))
    assert (int(state.step), int(state.skipped), int(state.skip_streak)) == (3, 2, 0)


def test_all_finite_ignores_integer_leaves():
    assert bool(all_finite({"count": jnp.asarray(3, jnp.int32), "x": jnp.zeros(2)}))
    assert not bool(all_finite({"count": jnp.asarray(3, jnp.int32), "x": jnp.array([0.0, jnp.inf])}))


def test_a_streak_at_the_limit_stops_naming_the_last_good_checkpoint(tmp_path):
    health.check_skip_streak(4, 7, step=20, limit=5, last_good=10, checkpoint_dir=tmp_path)  # under the limit
    with pytest.raises(health.TrainingDiverged, match=r"last 5 updates up to step 20 .* Last good checkpoint: step 10"):
        health.check_skip_streak(5, 7, step=20, limit=5, last_good=10, checkpoint_dir=tmp_path)
