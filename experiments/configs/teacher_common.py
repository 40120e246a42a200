"""Turning on config.teacher (its fields and defaults are in common.base_config), shared by the teacher rows
(teacher_c.py, teacher_md.py, teacher_joint.py) and the demo.

The teacher rows are D_R + D_S (paper Table 3) with the adversarial teacher choosing the synthetic group
every N = 20 student steps; see ltsh_jax/teacher/hook.py for what each field drives.
"""

import ml_collections

from experiments.configs import dr_ds
from experiments.configs.common import check_variant


def use_teacher(config: ml_collections.ConfigDict, grouping: str, num_groups: int, **fields) -> None:
    """Enables the teacher over `grouping` ('C', 'mD', 'C+mD') with `num_groups` bins, on crops of the
    student's size; `fields` override other config.teacher defaults (tiny sizes, the demo's larger steps)."""
    config.teacher.update(enabled=True, grouping=grouping, num_groups=num_groups, input_size=config.data.input_size)
    config.teacher.update(fields)


def teacher_config(row: str, variant: str, grouping: str, num_groups: int) -> ml_collections.ConfigDict:
    """dr_ds.py's config (paper or tiny) with the teacher on for `grouping`; the tiny variant has a tiny
    teacher with fewer groups that steps every 5 student steps."""
    check_variant(row, variant)
    config = dr_ds.get_config(variant)
    if variant == "tiny":
        use_teacher(config, grouping, max(2, num_groups // 3), every_n=5, learning_rate=1e-3, width=0.0625,
                    input_size=32)  # fmt: skip
    else:
        use_teacher(config, grouping, num_groups)
    return config
