"""Student optimizer: Adam on a step schedule, with layers frozen by a regex over parameter paths.

Freezing goes through `optax.multi_transform`: frozen leaves get exactly zero updates, so they stay
bit-identical, and they carry no Adam moments.
"""

from __future__ import annotations

import re

import jax
import ml_collections
import optax

FROZEN, TRAINABLE = "frozen", "trainable"


def learning_rate_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
    """lr * decay_factor ** floor(step / decay_every) (5e-5, x0.33 every 20k steps in the paper)."""
    return optax.exponential_decay(
        init_value=config.learning_rate,
        transition_steps=config.decay_every,
        decay_rate=config.decay_factor,
        staircase=True,
    )


def param_path(path: tuple) -> str:
    """'backbone/conv1_1/kernel' for a tree path of dict keys."""
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def frozen_labels(params, freeze_regex: str):
    """A tree of FROZEN / TRAINABLE labels; raises when a non-empty regex matches no parameter."""
    pattern = re.compile(freeze_regex) if freeze_regex else None
    labels = jax.tree_util.tree_map_with_path(
        lambda path, _: FROZEN if pattern is not None and pattern.search(param_path(path)) else TRAINABLE, params
    )
    if pattern is not None and FROZEN not in jax.tree_util.tree_leaves(labels):
        paths = [param_path(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
        raise ValueError(f"optim.freeze={freeze_regex!r} matches no parameter; parameters look like {paths[:4]}")
    return labels


def make_student_optimizer(config: ml_collections.ConfigDict, params) -> optax.GradientTransformation:
    """Adam(lr schedule, b1, b2) with the parameters matching `config.freeze` held fixed."""
    adam = optax.adam(learning_rate_schedule(config), b1=config.b1, b2=config.b2)
    if not config.freeze:
        return adam
    labels = frozen_labels(params, config.freeze)
    return optax.multi_transform({TRAINABLE: adam, FROZEN: optax.set_to_zero()}, labels)
