"""The config.teacher section shared by the teacher rows (teacher_c.py, teacher_md.py, teacher_joint.py).

The teacher rows are D_R + D_S (paper Table 3) with the adversarial teacher choosing the synthetic group
every N = 20 student steps; see ltsh_jax/teacher/hook.py for what each field drives.
"""

import ml_collections

from experiments.configs import dr_ds


def teacher_config(variant: str, grouping: str, num_groups: int) -> ml_collections.ConfigDict:
    """dr_ds.py's config (paper or tiny) with a config.teacher section for `grouping` ('C', 'mD', 'C+mD')."""
    config = dr_ds.get_config(variant)
    teacher = ml_collections.ConfigDict()
    teacher.enabled = True
    teacher.grouping = grouping  # 'C' camera pitch, 'mD' minimal distance, 'C+mD' both (product of bins)
    teacher.num_groups = num_groups  # bins per characteristic (10 in the paper); joint: groups = bins ** 2
    teacher.every_n = 20  # student steps per teacher step (N)
    teacher.hardest_k = 1  # hardest real crops of the last N steps fed to the teacher (1 in the paper)
    teacher.eps = 0.1  # probability of a uniform draw instead of one from P~
    teacher.alpha = 0.01  # size of the pseudo-target update (Eq. 2)
    teacher.history = 10  # H: past synthetic losses the reward compares against (Eq. 1)
    teacher.learning_rate = 1e-4  # the teacher's own Adam (the paper's value is in its supp. mat.; ours)
    teacher.width = 1.0  # teacher network width multiplier (1.0 = the reference architecture)
    teacher.vgg_weights = ""  # optional ImageNet VGG-19 for the teacher's conv1_1 .. conv4_2 (.npz or Keras .h5)
    teacher.input_size = config.data.input_size  # crops are resized to this before the teacher sees them
    teacher.seed = 0
    if variant == "tiny":
        teacher.num_groups = max(2, num_groups // 3)
        teacher.every_n = 5
        teacher.learning_rate = 1e-3
        teacher.width = 0.0625
        teacher.input_size = 32
    config.teacher = teacher
    return config
