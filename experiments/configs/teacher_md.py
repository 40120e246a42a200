"""Adversarial teacher grouping the synthetic people by minimal distance (mD): D_R + D_S, Table 3.

    python -m experiments.train --config=experiments/configs/teacher_md.py \
        --config.init_from=/runs/dr --workdir=/tmp/teacher_md

Variants: `teacher_md.py` (paper settings, teacher every 20 steps) and `teacher_md.py:tiny` (tiny
student and teacher, for smoke runs). The teacher section is documented in teacher_common.py.
"""

from experiments.configs.teacher_common import teacher_config


def get_config(variant: str = ""):
    return teacher_config("teacher_md", variant, "mD", 10)
