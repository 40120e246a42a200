"""Adversarial teacher grouping the synthetic people by camera pitch and minimal distance at once (C+mD).

D_R + D_S as in Table 3, but a grouping beyond the paper (its stated limitation): 4 x 4 = 16 groups.

    python -m experiments.train --config=experiments/configs/teacher_joint.py \
        --config.init_from=/runs/dr --workdir=/tmp/teacher_joint

Variants: `teacher_joint.py` (paper settings, teacher every 20 steps) and `teacher_joint.py:tiny` (tiny
student and teacher, for smoke runs). The teacher section is documented in teacher_common.py.
"""

from experiments.configs.teacher_common import teacher_config


def get_config(variant: str = ""):
    return teacher_config("teacher_joint", variant, "C+mD", 4)
