"""Train the OpenPose student.

    python -m experiments.train --config=experiments/configs/smoke.py[:variant] --workdir=DIR \
        [--config.train.num_steps=1000 ...]

Rerunning the same command resumes from the latest checkpoint in DIR; a config other than the run's
(DIR/config.json) is refused unless --allow_config_change, which records the change in config.json's
config_history. Mistakes (a field out of range, a misplaced field, a refused config, a diverged run) end in
one line; --verbosity=0 shows the libraries' INFO logs (checkpoint writes). On a multi-host TPU pod (or
several GPU hosts) run the same command on every host with --coordinator_address=HOST0:PORT
--num_processes=N --process_id=I (or --distributed where the cluster is auto-detected): jax.distributed
connects the hosts first, every host checks that the others have the same config and workdir, and each
then makes only the batch rows its devices hold (experiments/distributed_flags.py).
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import cli, distributed_flags
from ltsh_jax.cpu_flags import apply_cpu_xla_flags
from ltsh_jax.train import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (path.py or path.py:variant).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics.jsonl and plots.")
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    "allow_config_change", False, "Resume with a config other than the run's, recording the change in config.json."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    apply_cpu_xla_flags()  # XLA:CPU settings (ltsh_jax/cpu_flags.py), read when the first backend starts
    distributed_flags.initialize_from_flags()
    loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value, allow_config_change=_ALLOW_CONFIG_CHANGE.value)


def run() -> None:
    """`ltsh-train`, the same as `python -m experiments.train`; --config may also name a shipped config."""
    cli.run_main(main)


if __name__ == "__main__":
    run()
