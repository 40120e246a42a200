"""Table 1, row D_R+D_M: D_R baseline fine-tuned, half of each batch from ltsh_mixed.

    python -m data_builders.build ltsh_mixed --data_dir=~/tensorflow_datasets --manual_dir=/data/mpii
    python -m experiments.train --config=experiments/configs/dr_dm.py \
        --config.init_from=/runs/dr --workdir=/tmp/dr_dm

Paper settings (docs/reference.md): initialised from the D_R run (config.init_from; experiments/reproduce.py
sets it), batch 32 = 16 real + 16 synthetic crops, the first four conv layers frozen.
Samples of D_M are its real people (paper section 5.1): the synthetic humans act as occluders.
Variants: `dr_dm.py` (paper settings) and `dr_dm.py:tiny`.
"""

from experiments.configs.common import base_config, check_variant, finetune_with_synthetic, make_tiny


def get_config(variant: str = ""):
    check_variant("dr_dm", variant)
    config = base_config()
    finetune_with_synthetic(config, "ltsh_mixed", people="real", mask_synthetic=False)
    if variant == "tiny":
        make_tiny(config)
    return config
