"""Train the OpenPose student.

    python -m experiments.train --config=experiments/configs/smoke.py[:variant] --workdir=DIR \
        [--config.train.num_steps=1000 ...]

Rerunning the same command resumes from the latest checkpoint in DIR.
"""

from absl import app, flags
from ml_collections import config_flags

from ltsh_jax import train_lib

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (path.py or path.py:variant).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics.jsonl and plots.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    train_lib.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
