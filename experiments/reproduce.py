"""Reproduce one of the paper's tables: train the missing rows, evaluate them, write the table beside the paper's.

    python -m experiments.reproduce --table=1 --workdir=/runs/table1 --data_dir=~/tensorflow_datasets \
        --vgg_weights=/data/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5
    python -m experiments.reproduce --table=3 --workdir=/tmp/t3 --variant=tiny --eval_max_images=20

Every row trains under WORKDIR/ROW (rows fine-tuned from the D_R baseline start from WORKDIR/dr, trained
first when missing) and is evaluated on mpii_multiperson's validation split into WORKDIR/ROW/eval_validation.
Rows are scored as the paper did: the test scales at the people's size, no test-time flip (--flip adds
it; the table's header says which). Then WORKDIR writes table{N}.md (ours and the paper's numbers on
adjacent lines), figure6_table{N}.png (mAP by ratio of visible joints over the rows) and, for teacher
rows, their group-probability plots.
Resumable: rerun the same command after a kill; finished trainings and evaluations are reused, an
interrupted training resumes from its latest checkpoint. Every dataset a row needs is checked before
anything runs: a missing one stops the run with the command that builds it. On N hosts (the flags of
experiments/distributed_flags.py on every host) every host trains each row; after a barrier process 0
alone evaluates the rows and writes the tables, and the others wait for it. So are the ImageNet VGG-19
weights the rows trained from scratch (D_R, D_S) start from in the paper's settings: --vgg_weights=PATH
(ltsh_jax/models/vgg_weights.py lists the formats), or --vgg_weights=scratch for random initialisation.
"""

from __future__ import annotations

import importlib

import ml_collections
from absl import app, flags, logging
from etils import epath

from experiments import distributed_flags, tables
from ltsh_jax import distributed, paths
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.cpu_flags import apply_cpu_xla_flags
from ltsh_jax.data import splits
from ltsh_jax.evaluation import comparison
from ltsh_jax.evaluation.run import EvalSettings, evaluation_of
from ltsh_jax.models.vgg_weights import check_backbone_init
from ltsh_jax.train import loop

_TABLE = flags.DEFINE_integer("table", None, "Which table of the paper: 1, 2 or 3.")
_WORKDIR = flags.DEFINE_string("workdir", None, "One folder per row is made under it; the tables are written in it.")
_VARIANT = flags.DEFINE_enum("variant", "", ["", "tiny"], "'' = the paper's settings; 'tiny' = the tiny configs.")
_DATA_DIR = flags.DEFINE_string("data_dir", "~/tensorflow_datasets", "TFDS data_dir of every dataset.")
_EVAL_DATASET = flags.DEFINE_string("eval_dataset", "mpii_multiperson", "Dataset the rows are scored on.")
_EVAL_SPLIT = flags.DEFINE_string("eval_split", "validation", "Split the rows are scored on.")
_EVAL_MAX_IMAGES = flags.DEFINE_integer("eval_max_images", 0, "Score only the first N images (0: all).")
_EVAL_SCALES = flags.DEFINE_list("eval_scales", ["0.7", "1.0", "1.3"], "Test scales.")
_FLIP = flags.DEFINE_bool(
    "flip", False, "Average the maps with the mirrored image's (the paper and CMU's evalMPII.m score without)."
)
_NUM_STEPS = flags.DEFINE_integer("num_steps", 0, "Override every row's training steps (0: the config's).")
_VGG_WEIGHTS = flags.DEFINE_string(
    "vgg_weights", "", "ImageNet VGG-19 weights (.h5 / .npz) for the rows trained from scratch; 'scratch': none."
)
flags.mark_flags_as_required(["table", "workdir"])


def row_config(
    row: tables.Row, variant: str, workdir: epath.Path, data_dir: str, num_steps: int = 0, vgg_weights: str = ""
):
    """The row's training config with data_dir set for every TFDS source, init_from pointing at its baseline
    and, for rows trained from scratch, model.vgg_weights (when given)."""
    config: ml_collections.ConfigDict = importlib.import_module(f"experiments.configs.{row.config}").get_config(variant)
    for section in (config.data, config.data.synthetic):
        if section.source == "tfds":
            section.data_dir = data_dir
    if row.init_from:
        config.init_from = str(workdir / row.init_from)
    elif vgg_weights:
        config.model.vgg_weights = vgg_weights
    if num_steps:
        config.train.num_steps = num_steps
    return config


def check_datasets(config: ml_collections.ConfigDict, row: tables.Row) -> None:
    """FileNotFoundError naming the build command when a dataset the row trains on is not built."""
    for section, what in ((config.data, "config.data"), (config.data.synthetic, "config.data.synthetic")):
        if section.source != "tfds":
            continue
        for split in {section.split, section.get("eval_split") or section.split}:
            try:
                splits.load_split(section.name, split, section.data_dir, section.builder_config or None)
            except FileNotFoundError as e:
                raise FileNotFoundError(f"row {row.label} ({what}): {e}") from None


def _has_checkpoint(run_dir: epath.Path) -> bool:
    if not (run_dir / "checkpoints").is_dir():
        return False
    checkpointer = Checkpointer(run_dir / "checkpoints")
    try:
        return checkpointer.latest_step() is not None
    finally:
        checkpointer.close()


def check_backbone(config: ml_collections.ConfigDict, row: tables.Row, run_dir: epath.Path) -> None:
    """ValueError (naming the weight formats) when a row about to start from scratch lacks the VGG-19 weights
    its config requires; rows fine-tuned from another and runs with a checkpoint to resume need none."""
    if row.init_from or _has_checkpoint(run_dir):
        return
    try:
        check_backbone_init(config.model.vgg_weights, required=config.model.vgg_required)
    except (ValueError, FileNotFoundError) as e:
        raise type(e)(f"row {row.label}: {e}") from None


def training_finished(config: ml_collections.ConfigDict, run_dir: epath.Path) -> bool:
    """Whether the run's latest checkpoint is its last step and its final metrics are written."""
    if not (run_dir / "final_metrics.json").exists():
        return False
    checkpointer = Checkpointer(run_dir / "checkpoints")
    try:
        return checkpointer.latest_step() == config.train.num_steps
    finally:
        checkpointer.close()


def table_header(table: int, settings: EvalSettings, variant: str) -> str:
    """The table's title and how it was scored, test-time flip included: the paper scored without it
    (tf_pose/eval_MPI.py of the paper's code, ZheC testing/src/applyModel.m), so a flipped row is not comparable."""
    flip = (
        "with test-time flip (the paper scored without: not comparable)"
        if settings.flip
        else "no test-time flip (as the paper)"
    )
    return (
        f"# Table {table}" + (" (tiny variant: not comparable to the paper's numbers)" if variant else "") + "\n\n"
        f"Scored on {settings.dataset}/{settings.split}"
        + (f" (first {settings.max_images} images)" if settings.max_images else "")
        + f", scales {list(settings.scales)}, {flip}.\n\n"
    )


def reproduce(
    table: int,
    workdir: epath.Path,
    settings: EvalSettings,
    variant: str,
    num_steps: int = 0,
    vgg_weights: str = "",
) -> str:
    """Runs what is missing of `table` under workdir and writes its report; returns the Markdown table."""
    rows = tables.rows_to_run(table)
    configs = {row.key: row_config(row, variant, workdir, settings.data_dir, num_steps, vgg_weights) for row in rows}
    for row in rows:  # every dataset and weights file first: fail before hours of training, not after
        check_datasets(configs[row.key], row)
        check_backbone(configs[row.key], row, workdir / row.key)
    splits.load_split(settings.dataset, settings.split, settings.data_dir, settings.builder_config or None)

    for row in rows:  # every host trains every row (rows fine-tuned from D_R need it finished first)
        run_dir = workdir / row.key
        if training_finished(configs[row.key], run_dir):
            logging.info("%s: training finished earlier, reused", row.label)
        else:
            logging.info("%s: training in %s", row.label, run_dir)
            loop.train_and_evaluate(configs[row.key], run_dir)
    distributed.barrier("reproduce: every row trained")
    if not distributed.is_chief():  # process 0 evaluates and writes the tables; the others wait for it
        distributed.barrier("reproduce: tables written")
        return ""
    try:
        return _evaluate_and_write(table, rows, configs, workdir, settings, variant)
    finally:
        distributed.barrier("reproduce: tables written")


def _evaluate_and_write(table: int, rows, configs: dict, workdir: epath.Path, settings: EvalSettings,
                        variant: str) -> str:  # fmt: skip
    """Scores every row (process 0 only) and writes the table, the visibility figure and the teacher plots."""
    results = {row.key: evaluation_of(configs[row.key], workdir / row.key, settings) for row in rows}

    shown = tables.TABLES[table]
    markdown = comparison.comparison_table([(row.label, results[row.key]["table"], row.paper_table()) for row in shown])
    header = table_header(table, settings, variant)
    paths.write_atomically(workdir / f"table{table}.md", header + markdown)
    comparison.plot_visibility_comparison(
        [(row.label, results[row.key]["visibility_bins"]) for row in shown],
        workdir / f"figure6_table{table}.png",
        title=f"Table {table} rows: mAP by ratio of visible joints",
    )
    for row in shown:
        for plot in sorted((workdir / row.key).glob("teacher*.png")):
            paths.write_atomically(workdir / f"{row.key}_{plot.name}", plot.read_bytes())
    return header + markdown


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    apply_cpu_xla_flags()  # XLA:CPU settings (ltsh_jax/cpu_flags.py), before the first computation
    distributed_flags.initialize_from_flags()
    settings = EvalSettings(
        dataset=_EVAL_DATASET.value, split=_EVAL_SPLIT.value, data_dir=_DATA_DIR.value,
        scales=tuple(float(s) for s in _EVAL_SCALES.value), max_images=_EVAL_MAX_IMAGES.value, flip=_FLIP.value,
    )  # fmt: skip
    workdir = paths.as_path(_WORKDIR.value)  # a local folder or a cloud URI (gs://bucket/tables)
    if distributed.is_chief():
        workdir.mkdir(parents=True, exist_ok=True)
    distributed.barrier("reproduce: workdir made")
    print(reproduce(_TABLE.value, workdir, settings, _VARIANT.value, _NUM_STEPS.value, _VGG_WEIGHTS.value))


def run() -> None:
    """`ltsh-reproduce`, the same as `python -m experiments.reproduce`."""
    app.run(main)


if __name__ == "__main__":
    run()
