"""Table 1, row D_R+D_S: D_R baseline fine-tuned, half of each batch from ltsh_synthetic.

    python -m data_builders.build ltsh_synthetic/paper --data_dir=~/tensorflow_datasets
    python -m experiments.train --config=experiments/configs/dr_ds.py \
        --config.init_from=/runs/dr --workdir=/tmp/dr_ds

Paper settings (docs/reference.md): initialised from the D_R run (config.init_from; experiments/reproduce.py
sets it), batch 32 = 16 real + 16 synthetic crops, the first four conv layers frozen.
Variants: `dr_ds.py` (paper settings) and `dr_ds.py:tiny`.
"""

from experiments.configs.common import base_config, check_variant, finetune_with_synthetic, make_tiny


def get_config(variant: str = ""):
    check_variant("dr_ds", variant)
    config = base_config()
    finetune_with_synthetic(config, "ltsh_synthetic", people="synthetic", mask_synthetic=False)
    if variant == "tiny":
        make_tiny(config)
    return config
