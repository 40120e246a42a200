"""The training config checked before any work: every count, interval and size in range, the field named.

A bad value used to surface minutes later as a ZeroDivisionError or a silent no-op (num_steps=0 exits 0);
`check_training_config` makes it one line at start-up. The teacher checks its own fields (teacher/hook.py).
"""

from __future__ import annotations

import math

import ml_collections


class ConfigError(ValueError):
    """A config field out of range: the message names the field and its value."""


# (field, smallest allowed value): integers that count steps, items or people.
_AT_LEAST = (
    ("train.num_steps", 1),
    ("train.batch_size", 1),
    ("train.log_every", 1),
    ("train.checkpoint_every", 1),
    ("train.eval_every", 0),  # 0: never
    ("train.max_checkpoints", 1),
    ("train.max_skip_streak", 1),
    ("data.input_size", 1),
    ("data.stride", 1),
    ("data.max_people", 1),
    ("data.eval_batches", 1),
    ("data.num_workers", 0),  # 0: every core
    ("data.prefetch", 0),
    ("model.num_stages", 1),
    ("optim.decay_every", 1),
)


def _get(config: ml_collections.ConfigDict, path: str):
    value = config
    for key in path.split("."):
        value = value[key]
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_training_config(config: ml_collections.ConfigDict) -> None:
    """ConfigError naming the first field of `config` (as config.a.b=value) that training cannot run with."""
    for path, least in _AT_LEAST:
        value = _get(config, path)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"config.{path}={value!r} must be an integer >= {least}")
    data = config.data
    if data.input_size % data.stride:
        raise ConfigError(
            f"config.data.input_size={data.input_size} is not a multiple of config.data.stride={data.stride}"
        )
    for path in ("model.width", "optim.decay_factor", "optim.learning_rate"):
        value = _get(config, path)
        zero_ok = path == "optim.learning_rate"  # a zero learning rate is a run that changes nothing: allowed
        if not _is_number(value) or not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            raise ConfigError(f"config.{path}={value!r} must be a finite number {'>=' if zero_ok else '>'} 0")
    if not (_is_number(data.real_fraction) and 0.0 <= data.real_fraction <= 1.0):
        raise ConfigError(f"config.data.real_fraction={data.real_fraction!r} must be in [0, 1]")
