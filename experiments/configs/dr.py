"""Training on D_R alone (real MPII multi-person, the TFDS dataset `mpii_multiperson`): the paper's baseline.

    python -m data_builders.build mpii_multiperson --data_dir=~/tensorflow_datasets --manual_dir=/data/mpii
    python -m experiments.train --config=experiments/configs/dr.py \
        --config.data.data_dir=~/tensorflow_datasets --workdir=/tmp/dr

Variants: `dr.py` (paper settings: full OpenPose, 368x368 crops, batch 32, real only) and
`dr.py:tiny` (a tiny OpenPose at 64x64 that trains on 2 CPU cores in a minute or two, for smoke
runs and tests on a small build such as the builder's dummy data).
"""

from experiments.configs.common import base_config, check_variant, make_tiny, use_mpii_real


def get_config(variant: str = ""):
    check_variant("dr", variant)
    config = base_config()
    use_mpii_real(config)
    config.data.real_fraction = 1.0  # D_R only: no synthetic source
    if variant == "tiny":
        make_tiny(config)
    else:  # the paper's row starts from ImageNet VGG-19 (ltsh_jax/models/vgg_weights.py); tiny ones from random init
        config.model.vgg_required = True
    return config
