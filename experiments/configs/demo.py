"""The demo (`make demo`): a small student on the embedded synthetic data, without and with the teacher.

    python -m experiments.demo --output_dir=demo_output

Variants: `demo.py:baseline` (synthetic half drawn uniformly) and `demo.py:teacher` (synthetic half
chosen by the adversarial teacher over camera-pitch groups). Both read the `tiny` build of
ltsh_synthetic (D_S) for both halves of the batch, since the demo has no real photographs; its
held-out `validation` split scores them. The teacher takes larger steps than the paper's (alpha,
learning rate) so that its probabilities visibly move within the demo's few hundred student steps.
"""

import ml_collections

from experiments.configs.common import base_config


def get_config(variant: str = "baseline"):
    if variant not in ("baseline", "teacher"):
        raise ValueError(f"unknown demo variant {variant!r}: use 'baseline' or 'teacher'")
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
    config.model.width = 0.125
    config.model.num_stages = 2
    config.data.input_size = 128
    config.data.augment.target_scale = 1.25 * 128 / 368  # people as large relative to the crop as at 368
    config.data.max_people = 6
    config.data.eval_batches = 1
    config.optim.learning_rate = 2e-3
    config.optim.b1 = 0.9
    config.train.batch_size = 8
    config.train.num_steps = 800  # about 3 minutes per run on 2 idle CPU cores
    config.train.log_every = 20
    config.train.eval_every = 200
    config.train.checkpoint_every = 200
    if variant == "teacher":
        teacher = ml_collections.ConfigDict()
        teacher.enabled = True
        teacher.grouping = "C"  # camera pitch
        teacher.num_groups = 5
        teacher.every_n = 5
        teacher.hardest_k = 1
        teacher.eps = 0.1
        teacher.alpha = 0.2
        teacher.history = 5
        teacher.learning_rate = 1e-2
        teacher.width = 0.0625
        teacher.input_size = 32
        teacher.seed = 0
        config.teacher = teacher
    return config
