"""Table 2, row D_R+D_Style+masks: D_R baseline fine-tuned, half of each batch from ltsh_stylized.

    python -m data_builders.build ltsh_stylized --data_dir=~/tensorflow_datasets --manual_dir=/data/mpii
    python -m experiments.train --config=experiments/configs/dr_style_masks.py \
        --config.init_from=/runs/dr --workdir=/tmp/dr_style_masks

Paper settings (docs/reference.md): initialised from the D_R run (config.init_from; experiments/reproduce.py
sets it), batch 32 = 16 real + 16 synthetic crops, the first four conv layers frozen.
Samples of D_Style are its real people; "+masks": the loss of the synthetic humans is masked out.
Variants: `dr_style_masks.py` (paper settings) and `dr_style_masks.py:tiny`.
"""

from experiments.configs.common import base_config, check_variant, finetune_with_synthetic, make_tiny


def get_config(variant: str = ""):
    check_variant("dr_style_masks", variant)
    config = base_config()
    finetune_with_synthetic(config, "ltsh_stylized", people="real", mask_synthetic=True)
    if variant == "tiny":
        make_tiny(config)
    return config
