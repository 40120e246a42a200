"""Evaluate a trained student on a dataset split with the MPII multi-person protocol.

    python -m experiments.evaluate --workdir=RUN \
        --dataset=mpii_multiperson --split=validation --data_dir=~/tensorflow_datasets

Builds the model from the run's own config (RUN/config.json; --config=path.py[:variant] overrides it),
reads the latest checkpoint of RUN, predicts people on every image of the split (multi-scale and
flip-averaged maps, OpenPose decoding) and writes to --output_dir (default RUN/eval_SPLIT):
predictions.json and ground_truth.json (MPII annolist format), predictions_coco.json, results.json
(per-joint AP, the seven-column table, visibility bins), table.md, visibility.png and pictures/
with the annotated people beside the predicted skeletons on the first --pictures images.
On N hosts (the flags of experiments/distributed_flags.py on every host) process 0 evaluates alone and
the others wait for it: the command is the same everywhere, as in training.
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import cli, distributed_flags
from ltsh_jax import distributed
from ltsh_jax.checkpoints import ShapeMismatchError
from ltsh_jax.evaluation import report
from ltsh_jax.evaluation.run import EvalSettings, eval_output_dir, evaluate_checkpoint
from ltsh_jax.train.run_config import load_run_config, run_config_path

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Override the run's own config (RUN/config.json) with this one (path.py[:variant])."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "The training run's directory (its checkpoints/ are read).")
_DATASET = flags.DEFINE_string("dataset", "mpii_multiperson", "TFDS dataset name (built with data_builders).")
_BUILDER_CONFIG = flags.DEFINE_string("builder_config", "", "TFDS builder config of the dataset, if it has them.")
_SPLIT = flags.DEFINE_string("split", "validation", "Split to evaluate.")
_DATA_DIR = flags.DEFINE_string("data_dir", "~/tensorflow_datasets", "TFDS data_dir holding the built dataset.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where outputs go (default WORKDIR/eval_SPLIT).")
_SCALES = flags.DEFINE_list("scales", ["0.7", "1.0", "1.3"], "Test scales (times the people's training size).")
_PEOPLE_SIZE = flags.DEFINE_bool(
    "people_size", True, "Scale each image so that its people come out at their training size (else height 368)."
)
_FLIP = flags.DEFINE_bool("flip", True, "Average the maps with those of the mirrored image.")
_MAX_IMAGES = flags.DEFINE_integer("max_images", 0, "Evaluate only the first N images (0: all).")
_PICTURES = flags.DEFINE_integer("pictures", 8, "Draw ground truth beside prediction on this many images.")
_GROUPS = flags.DEFINE_bool("multi_person_groups", True, "Score only MPII multi-person groups (the protocol).")
_MIN_PARTS = flags.DEFINE_integer(
    "min_parts", EvalSettings.min_parts, "Drop decoded people with fewer parts (3: the paper's MPI test; 4: CMU COCO)."
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    distributed_flags.initialize_from_flags()
    try:
        if distributed.is_chief():
            _evaluate()
    finally:
        distributed.barrier("evaluate: done")


def _evaluate() -> None:
    """Scores the run's latest checkpoint and prints the table (one process)."""
    settings = EvalSettings(
        dataset=_DATASET.value, split=_SPLIT.value, data_dir=_DATA_DIR.value, builder_config=_BUILDER_CONFIG.value,
        scales=tuple(float(s) for s in _SCALES.value), people_size=_PEOPLE_SIZE.value, flip=_FLIP.value,
        max_images=_MAX_IMAGES.value, pictures=_PICTURES.value, multi_person_groups=_GROUPS.value,
        min_parts=_MIN_PARTS.value,
    )  # fmt: skip
    config = _CONFIG.value if _CONFIG.value is not None else load_run_config(_WORKDIR.value)
    try:
        results = evaluate_checkpoint(config, _WORKDIR.value, settings, _OUTPUT_DIR.value)
    except ShapeMismatchError as error:
        which = (
            f"--config={flags.FLAGS['config'].config_filename}"
            if _CONFIG.value is not None
            else run_config_path(_WORKDIR.value)
        )
        raise ShapeMismatchError(f"the config {which} does not match the run's checkpoint: {error}") from None
    print(report.markdown_table(results["table"], label=_WORKDIR.value.rstrip("/").split("/")[-1]))
    if results["run"]["unscored_people"]:
        print(f"note: {results['run']['unscored_people']} annotated people without a head box were not scored")
    counts = results["counts"]
    print(f"wrote {eval_output_dir(_WORKDIR.value, settings, _OUTPUT_DIR.value)}: {results['run']['images']} images, "
          f"{counts['predicted_people']} predicted people")  # fmt: skip


def run() -> None:
    """`ltsh-evaluate`, the same as `python -m experiments.evaluate`; --config may also name a shipped config."""
    cli.run_main(main)


if __name__ == "__main__":
    run()
