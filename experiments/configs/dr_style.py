"""Table 2, row D_R+D_Style: D_R baseline fine-tuned, half of each batch from ltsh_stylized.

    python -m data_builders.build ltsh_stylized --data_dir=~/tensorflow_datasets --manual_dir=/data/mpii
    python -m experiments.train --config=experiments/configs/dr_style.py \
        --config.init_from=/runs/dr --workdir=/tmp/dr_style

Paper settings (docs/reference.md): initialised from the D_R run (config.init_from; experiments/reproduce.py
sets it), batch 32 = 16 real + 16 synthetic crops, the first four conv layers frozen.
Samples of D_Style are its real people; the synthetic humans are stylized occluders.
Variants: `dr_style.py` (paper settings) and `dr_style.py:tiny`.
"""

from experiments.configs.common import base_config, check_variant, finetune_with_synthetic, make_tiny


def get_config(variant: str = ""):
    check_variant("dr_style", variant)
    config = base_config()
    finetune_with_synthetic(config, "ltsh_stylized", people="real", mask_synthetic=False)
    if variant == "tiny":
        make_tiny(config)
    return config
