"""Smoke training: the tiny OpenPose for a few hundred steps on a folder of MPII JSON samples.

    python -m experiments.train --config=experiments/configs/smoke.py \
        --config.data.dir=../shared/data/real_samples/mpii \
        --config.data.annotation_file=test_mpii.json --workdir=/tmp/smoke

Variants: `smoke.py` (300 steps, about 2 minutes on 2 CPU cores) and `smoke.py:test` (a handful of
steps, for tests).
"""

from experiments.configs.common import base_config


def get_config(variant: str = ""):
    config = base_config()
    config.model.width = 0.125
    config.model.num_stages = 2
    config.data.input_size = 128
    config.data.augment.target_scale = 1.25 * 128 / 368  # people as large relative to the crop as at 368
    config.data.max_people = 4
    config.data.eval_batches = 1
    config.optim.learning_rate = 2e-3
    config.optim.b1 = 0.9
    config.train.batch_size = 8
    config.train.num_steps = 300
    config.train.log_every = 10
    config.train.eval_every = 100
    config.train.checkpoint_every = 100
    if variant == "test":
        config.model.width = 0.0625
        config.data.input_size = 64
        config.data.augment.target_scale = 1.25 * 64 / 368
        config.train.batch_size = 4
        config.train.num_steps = 6
        config.train.log_every = 2
        config.train.eval_every = 3
        config.train.checkpoint_every = 3
    elif variant:
        raise ValueError(f"unknown smoke variant {variant!r}: use '' or 'test'")
    return config
