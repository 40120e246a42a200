"""Export a trained run's student parameters as a small run folder that `--config.init_from` can start from.

    python -m experiments.export_params --workdir=RUN --output=experiments/baselines/demo [--step=N]

Writes OUTPUT/checkpoints/STEP with the 'params' item only (no optimiser state: a third of the run's
checkpoint) and OUTPUT/config.json, so that OUTPUT works as `init_from`, and as `--workdir` of
experiments.evaluate and experiments.predict; with the run's record of how it learned where it has one
(metrics.jsonl, loss.png, eval_*/ap_curve.json and .png). Resuming training from it is not possible (no optimiser
state, no input-pipeline state): start a new run with `--config.init_from=OUTPUT`.
"""

from __future__ import annotations

from absl import flags

from experiments import cli
from ltsh_jax import paths
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.evaluation.run import load_student
from ltsh_jax.train.run_config import load_run_config, run_config_path

# How the run learned, copied beside the parameters (patterns relative to the run's folder).
RECORDS = ("metrics.jsonl", "loss.png", "eval_*/ap_curve.json", "eval_*/ap_curve.png")


def export_params(workdir: str, output: str, step: int | None = None) -> int:
    """Writes the parameters of checkpoint `step` (default: the latest) of `workdir` and its config.json to
    `output`; returns the step. FileExistsError when `output` holds a checkpoint already."""
    output_path = paths.as_path(output)
    if (output_path / "checkpoints").exists():
        raise FileExistsError(f"{output_path / 'checkpoints'} exists: export into a new folder")
    config = load_run_config(workdir)
    student = load_student(config, workdir, step)
    output_path.mkdir(parents=True, exist_ok=True)
    checkpointer = Checkpointer(output_path / "checkpoints", max_to_keep=1)
    checkpointer.save(student.step, {"params": student.params}, meta={"step": student.step,
                                                                    "exported_from": str(workdir)})  # fmt: skip
    checkpointer.close()
    paths.write_atomically(run_config_path(output_path), run_config_path(workdir).read_text())
    source = paths.as_path(workdir)
    for name in RECORDS:
        for path in source.glob(name):
            paths.write_atomically(output_path / path.relative_to(source), path.read_bytes())
    return student.step


def _define_flags() -> dict:
    """The binary's flags, defined only when it runs: tests import export_params beside other binaries that
    define --workdir too."""
    defined = {
        "workdir": flags.DEFINE_string("workdir", None, "The training run whose checkpoint is exported."),
        "output": flags.DEFINE_string("output", None, "The folder to write (must not hold a checkpoint yet)."),
        "step": flags.DEFINE_integer("step", None, "The checkpoint step to export (default: the latest)."),
    }
    flags.mark_flags_as_required(["workdir", "output"])
    return defined


def main(argv, defined: dict) -> None:
    del argv
    workdir, output = defined["workdir"].value, defined["output"].value
    step = export_params(workdir, output, defined["step"].value)
    print(f"exported step {step} of {workdir} to {output}")


if __name__ == "__main__":
    _FLAGS = _define_flags()
    cli.run_main(lambda argv: main(argv, _FLAGS))
