"""How fast the small student learns: AP on the learning check's training images against training time.

Trains `experiments/configs/learning_check.py` (8 images of `ltsh_synthetic/learning`, no augmentation)
in rounds; after each round it scores the student on those same images, each image scaled so that its
people come out at the size the training crops give them (one scale, no flip), and prints per round:
steps, training seconds (wall clock, the loop's own time), mAP and the table, and the localisation
error of the predicted joints (each labelled joint's nearest prediction) against the PCKh threshold
(half the head size): the median of both, and the share of joints within the threshold. A student whose
joints are a few pixels off scores near 0 when the threshold is smaller still: that is what the two
medians show.

    python -m benchmarks.learning [--rounds 2 --steps 750] [--set data.input_size=256 --set ...]
        [--data_dir /tmp/ltsh_learning] [--output rows.json] [--split validation] [--variant from_baseline]

`--variant from_baseline` fine-tunes the demo's shipped baseline instead of training from scratch; round 0
then scores the baseline itself, before any step on these images.

`--set FIELD=VALUE` changes a field of the config (a number or a string), e.g. the crop size, the
people's size in the crops (data.augment.target_scale), the width or the learning rate.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import ml_collections
import numpy as np

from experiments.configs import learning_check
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.cpu_flags import apply_cpu_xla_flags
from ltsh_jax.data import splits
from ltsh_jax.evaluation import run
from ltsh_jax.train import loop


def localisation(results: list[run.ImageResult]) -> tuple[float, float, float]:
    """(median error px, median PCKh threshold px, share within it) of every labelled joint's nearest prediction."""
    errors, thresholds = run.nearest_joint_errors(results)
    if not len(errors):
        return float("nan"), float("nan"), 0.0
    return float(np.median(errors)), float(np.median(thresholds)), float((errors <= thresholds).mean())


def score_training_images(
    config: ml_collections.ConfigDict, workdir: pathlib.Path, split: str | None = None, step: int | None = None
) -> dict:
    """AP and localisation of the run's checkpoint `step` (default: the latest) on its own training images (or
    on `split`), at the people's size."""
    settings = run.EvalSettings(
        dataset=config.data.name, split=split or config.data.split, data_dir=config.data.data_dir,
        builder_config=config.data.builder_config, scales=(1.0,), flip=False, multi_person_groups=False,
    )  # fmt: skip
    source = splits.load_split(settings.dataset, settings.split, settings.data_dir, settings.builder_config)
    _, results = run.predict_checkpoint(config, workdir, source, settings, step)
    truth = [r.ground_truth for r in results]
    predictions = [run.to_prediction(r.ground_truth.name, r.people) for r in results]
    result, _ = run.score(truth, predictions, multi_person_groups=False)
    error, threshold, within = localisation(results)
    return {"table": result.table, "median_error_px": error, "median_threshold_px": threshold, "within": within}


def _reached_step(workdir: pathlib.Path) -> int:
    """The latest checkpoint's step of the run in workdir, 0 when it has none."""
    if not (workdir / "checkpoints").is_dir():
        return 0
    checkpointer = Checkpointer(workdir / "checkpoints")
    step = checkpointer.latest_step() or 0
    checkpointer.close()
    return step


def _parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=750, help="student steps per round")
    parser.add_argument("--variant", default="", help="learning_check's variant: '' (from scratch) or from_baseline")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a config field")
    parser.add_argument("--data_dir", default="/tmp/ltsh_learning", help="TFDS data_dir and the runs' folder")
    parser.add_argument("--output", help="also write the rows as JSON here")
    parser.add_argument("--split", help="score this split instead of the training images (e.g. validation: the "
                        "held-out images of the same generator config); a finished run is only rescored")  # fmt: skip
    args = parser.parse_args()
    apply_cpu_xla_flags()
    from data_builders.build import build  # registers the builders

    root = pathlib.Path(args.data_dir)
    config = learning_check.get_config(args.variant)
    config.data.data_dir = str(root / "tfds")
    for item in args.set:
        field, _, value = item.partition("=")
        section, *path = field.split(".")
        node = config
        for key in [section, *path][:-1]:
            node = node[key]
        node[([section, *path])[-1]] = _parse_value(value)
    build(f"{config.data.name}/{config.data.builder_config}", data_dir=config.data.data_dir)
    parts = ([args.variant] if args.variant else []) + [s.replace("=", "-").replace(".", "-") for s in args.set]
    workdir = root / "runs" / ("_".join(parts) or "default")
    rows, trained = [], 0.0
    if config.init_from:  # round 0: the starting point itself (the same student, so this config loads it)
        row = {"steps": 0, "train_seconds": 0.0,
               **score_training_images(config, pathlib.Path(config.init_from), args.split)}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    for round_ in range(1, args.rounds + 1):
        config.train.num_steps = round_ * args.steps
        config.train.eval_every = config.train.checkpoint_every = args.steps
        start = time.perf_counter()
        if _reached_step(workdir) < config.train.num_steps:  # a finished run's rounds are only rescored
            loop.train_and_evaluate(config, workdir)
        trained += time.perf_counter() - start
        row = {"steps": config.train.num_steps, "train_seconds": round(trained, 1),
               **score_training_images(config, workdir, args.split, config.train.num_steps)}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps({"set": args.set, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
