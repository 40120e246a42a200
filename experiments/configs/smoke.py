"""Smoke training: the tiny OpenPose for a few hundred steps on a folder of MPII JSON samples.

    python -m experiments.train --config=experiments/configs/smoke.py \
        --config.data.dir=../shared/data/real_samples/mpii \
        --config.data.annotation_file=test_mpii.json --workdir=/tmp/smoke

Variants: `smoke.py` (300 steps, about 2 minutes on 2 CPU cores) and `smoke.py:test` (a handful of
steps, for tests).
"""

from experiments.configs.common import base_config, check_variant, small_student


def get_config(variant: str = ""):
    check_variant("smoke", variant, ("", "test"))
    config = base_config()
    if variant == "test":
        small_student(config, width=0.0625, input_size=64, max_people=4, batch_size=4, num_steps=6, log_every=2,
                      eval_every=3)  # fmt: skip
    else:
        small_student(config, width=0.125, input_size=128, max_people=4, batch_size=8, num_steps=300, log_every=10,
                      eval_every=100)  # fmt: skip
    return config
