"""Training on D_R alone (real MPII multi-person, the TFDS dataset `mpii_multiperson`): the paper's baseline.

    python -m data_builders.build mpii_multiperson --data_dir=~/tensorflow_datasets --manual_dir=/data/mpii
    python -m experiments.train --config=experiments/configs/dr.py \
        --config.data.data_dir=~/tensorflow_datasets --workdir=/tmp/dr

Variants: `dr.py` (paper settings: full OpenPose, 368x368 crops, batch 32, real only) and
`dr.py:tiny` (a tiny OpenPose at 64x64 that trains on 2 CPU cores in a minute or two, for smoke
runs and tests on a small build such as the builder's dummy data).
"""

from experiments.configs.common import base_config


def get_config(variant: str = ""):
    config = base_config()
    config.data.source = "tfds"
    config.data.name = "mpii_multiperson"
    config.data.split = "train"
    config.data.eval_split = "validation"
    config.data.data_dir = "~/tensorflow_datasets"
    config.data.real_fraction = 1.0  # D_R only: no synthetic source
    if variant == "tiny":
        config.model.width = 0.0625
        config.model.num_stages = 2
        config.data.input_size = 64
        config.data.augment.target_scale = 1.25 * 64 / 368  # people as large relative to the crop as at 368
        config.data.max_people = 4
        config.data.eval_batches = 1
        config.optim.learning_rate = 2e-3
        config.optim.b1 = 0.9
        config.train.batch_size = 4
        config.train.num_steps = 100
        config.train.log_every = 10
        config.train.eval_every = 50
        config.train.checkpoint_every = 50
    elif variant:
        raise ValueError(f"unknown dr variant {variant!r}: use '' or 'tiny'")
    return config
