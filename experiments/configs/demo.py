"""The demo (`make demo`): a small student on the embedded synthetic data, without and with the teacher.

    python -m experiments.demo --output_dir=demo_output

Variants: `demo.py:baseline` (synthetic half drawn uniformly) and `demo.py:teacher` (synthetic half
chosen by the adversarial teacher over camera-pitch groups). Both read the `tiny` build of
ltsh_synthetic (D_S) for both halves of the batch, since the demo has no real photographs; its
held-out `validation` split scores them. The teacher takes larger steps than the paper's (alpha,
learning rate) so that its probabilities visibly move within the demo's few hundred student steps.
"""

from experiments.configs.common import base_config, check_variant, small_student
from experiments.configs.teacher_common import use_teacher


def get_config(variant: str = "baseline"):
    check_variant("demo", variant, ("baseline", "teacher"))
    config = base_config()
    for section in (config.data, config.data.synthetic):
        section.source = "tfds"
        section.name = "ltsh_synthetic"
        section.builder_config = "tiny"
        section.split = "train"
        section.data_dir = "demo_output/tensorflow_datasets"
    config.data.eval_split = "validation"
    config.data.synthetic.people = "synthetic"
    config.data.real_fraction = 0.5
    # 800 steps: about 2 minutes per run on 2 idle CPU cores.
    small_student(config, width=0.125, input_size=128, max_people=6, batch_size=8, num_steps=800, log_every=20,
                  eval_every=200)  # fmt: skip
    config.train.max_checkpoints = 4  # every evaluation's checkpoint: the report's held-out AP curve scores each
    if variant == "teacher":  # camera-pitch groups; larger steps than the paper's so P~ moves within the demo
        use_teacher(config, "C", 5, every_n=5, alpha=0.2, history=5, learning_rate=1e-2, width=0.0625, input_size=32)
    return config
