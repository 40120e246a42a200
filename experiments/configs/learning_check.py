"""The learning check: the small student fits a handful of synthetic images and finds their people.

    python -m data_builders.build ltsh_synthetic/learning --data_dir=DATA
    python -m experiments.train --config=experiments/configs/learning_check.py --workdir=RUN \\
        --config.data.data_dir=DATA

Trains on the 8 training images of `ltsh_synthetic/learning` (256x256, 1-4 people of similar size)
without augmentation, so that a defect on the path rendering -> records -> crops -> targets -> loss ->
update -> maps -> decode -> AP shows as a low AP on the training images themselves (tests/e2e/test_learning.py,
slow). `python -m benchmarks.learning` trains it in rounds and scores those images at the people's size.
"""

from experiments.configs.common import base_config, check_variant, small_student


def get_config(variant: str = ""):
    check_variant("learning_check", variant, allowed=("",))
    config = base_config()
    config.data.source = "tfds"
    config.data.name = "ltsh_synthetic"
    config.data.builder_config = "learning"
    config.data.split = "train"
    config.data.eval_split = "train"
    config.data.data_dir = "~/tensorflow_datasets"
    # Width 1/4: at 1/8 the from-scratch student sits on the all-background answer for ~1000 steps (docs/learning.md).
    small_student(config, width=0.25, input_size=256, max_people=4, batch_size=4, num_steps=1500, log_every=50,
                  eval_every=750)  # fmt: skip
    config.optim.learning_rate = 1e-3
    augment = config.data.augment
    # People as large as the paper's (about 200 px): at the demo's 87 px the PCKh threshold is about half
    # an output cell (benchmarks/learning.py prints both).
    augment.target_scale = 1.0
    augment.scale_min = augment.scale_max = 1.0
    augment.max_rotate = augment.max_shift = augment.flip_prob = 0.0
    return config
