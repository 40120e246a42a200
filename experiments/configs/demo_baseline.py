"""The demo's starting point: the small student trained from scratch on `ltsh_synthetic/demo_pretrain`.

    python -m data_builders.build ltsh_synthetic/demo_pretrain --data_dir=DATA
    python -m experiments.train --config=experiments/configs/demo_baseline.py --workdir=RUN \\
        --config.data.data_dir=DATA
    python -m experiments.export_params --workdir=RUN --output=experiments/baselines/demo

`make demo` fine-tunes the exported parameters (experiments/baselines/demo, a few MB) with and without the
teacher, as the paper fine-tunes its D_R baseline; docs/learning.md records how it was trained and what it
scores on the demo's held-out split. Same scenes as the demo (`ltsh_synthetic/demo`), another seed, so the
demo's held-out images are new to it.
"""

import ml_collections

from experiments.configs.common import base_config, check_variant, small_student


def demo_student(config: ml_collections.ConfigDict, *, num_steps: int, eval_every: int) -> None:
    """The student of the demo and of its baseline on `ltsh_synthetic` demo scenes: width 1/4 (at 1/8 it stays on
    the all-background answer, docs/learning.md), the learning check's crops (256 px, people about 200 px tall:
    at the earlier demo's 87 px the PCKh threshold was half an output cell), flips and mild scale and rotation."""
    small_student(config, width=0.25, input_size=256, max_people=6, batch_size=4, num_steps=num_steps,
                  log_every=min(50, eval_every), eval_every=eval_every)  # fmt: skip
    config.optim.learning_rate = 1e-3
    augment = config.data.augment
    augment.target_scale = 1.0
    augment.scale_min, augment.scale_max = 0.8, 1.25
    augment.max_rotate = 15.0
    augment.max_shift = 20.0
    augment.flip_prob = 0.5


def use_demo_scenes(config: ml_collections.ConfigDict, builder_config: str) -> None:
    """Both halves of each batch from `ltsh_synthetic/<builder_config>` (the demo has no real photographs)."""
    for section in (config.data, config.data.synthetic):
        section.source = "tfds"
        section.name = "ltsh_synthetic"
        section.builder_config = builder_config
        section.split = "train"
        section.data_dir = "demo_output/tensorflow_datasets"
    config.data.eval_split = "validation"
    config.data.synthetic.people = "synthetic"
    config.data.real_fraction = 0.5


def get_config(variant: str = ""):
    check_variant("demo_baseline", variant, allowed=("",))
    config = base_config()
    use_demo_scenes(config, "demo_pretrain")
    config.data.synthetic.source = ""  # one source: every crop from demo_pretrain (no real/synthetic halves)
    demo_student(config, num_steps=8000, eval_every=500)
    config.model.vgg_weights = "scratch"
    config.optim.decay_every = 2500  # a third of the rate every 2,500 steps
    config.train.max_checkpoints = 10  # every evaluation's checkpoint: the held-out AP curve scores each
    return config
