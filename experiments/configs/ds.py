"""Table 1, row D_S: trained from scratch on the purely synthetic D_S alone (no real data).

    python -m data_builders.build ltsh_synthetic/paper --data_dir=~/tensorflow_datasets
    python -m experiments.train --config=experiments/configs/ds.py --workdir=/tmp/ds

Variants: `ds.py` (paper settings) and `ds.py:tiny` (tiny model on the `tiny` D_S build).
"""

from experiments.configs.common import base_config, check_variant, make_tiny


def get_config(variant: str = ""):
    check_variant("ds", variant)
    config = base_config()
    config.data.source = "tfds"
    config.data.name = "ltsh_synthetic"
    config.data.builder_config = "paper"
    config.data.split = "train"
    config.data.eval_split = "validation"
    config.data.data_dir = "~/tensorflow_datasets"
    config.data.real_fraction = 1.0  # every crop from D_S, which plays the part of the only source
    if variant == "tiny":
        make_tiny(config)
    else:  # the paper's row starts from ImageNet VGG-19 (ltsh_jax/models/vgg_weights.py); tiny ones from random init
        config.model.vgg_required = True
    return config
