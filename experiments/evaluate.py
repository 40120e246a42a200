"""Evaluate a trained student on a dataset split with the MPII multi-person protocol.

    python -m experiments.evaluate --config=experiments/configs/smoke.py --workdir=RUN \
        --dataset=mpii_multiperson --split=validation --data_dir=~/tensorflow_datasets

Reads the latest checkpoint of RUN, predicts people on every image of the split (multi-scale and
flip-averaged maps, OpenPose decoding) and writes to --output_dir (default RUN/eval_SPLIT):
predictions.json and ground_truth.json (MPII annolist format), predictions_coco.json, results.json
(per-joint AP, the seven-column table, visibility bins), table.md, visibility.png and pictures/
with the predicted skeletons drawn on the first --pictures images.
"""

import pathlib

import jax
from absl import app, flags
from ml_collections import config_flags
from PIL import Image

from ltsh_jax import datasets, eval_lib, visualize
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.evaluation import coco_export, mpii_json_write, report
from ltsh_jax.train_step import build_model, get_skeleton, init_params

_CONFIG = config_flags.DEFINE_config_file("config", None, "The training config of the run (path.py[:variant]).")
_WORKDIR = flags.DEFINE_string("workdir", None, "The training run's directory (its checkpoints/ are read).")
_DATASET = flags.DEFINE_string("dataset", "mpii_multiperson", "TFDS dataset name (built with data_builders).")
_SPLIT = flags.DEFINE_string("split", "validation", "Split to evaluate.")
_DATA_DIR = flags.DEFINE_string("data_dir", "~/tensorflow_datasets", "TFDS data_dir holding the built dataset.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where outputs go (default WORKDIR/eval_SPLIT).")
_SCALES = flags.DEFINE_list("scales", ["0.7", "1.0", "1.3"], "Test scales (image height = scale * 368).")
_FLIP = flags.DEFINE_bool("flip", True, "Average the maps with those of the mirrored image.")
_MAX_IMAGES = flags.DEFINE_integer("max_images", 0, "Evaluate only the first N images (0: all).")
_PICTURES = flags.DEFINE_integer("pictures", 8, "Draw the predicted skeletons on this many images.")
_GROUPS = flags.DEFINE_bool("multi_person_groups", True, "Score only MPII multi-person groups (the protocol).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config, workdir = _CONFIG.value, pathlib.Path(_WORKDIR.value)
    output = pathlib.Path(_OUTPUT_DIR.value or workdir / f"eval_{_SPLIT.value}")
    source = datasets.load_split(_DATASET.value, _SPLIT.value, pathlib.Path(_DATA_DIR.value).expanduser())
    count = len(source) if not _MAX_IMAGES.value else min(_MAX_IMAGES.value, len(source))
    examples = (datasets.decode_example(source[i]) for i in range(count))

    skeleton, model = get_skeleton(config), build_model(config)
    params = init_params(model, config, jax.random.key(0))
    params = Checkpointer(workdir / "checkpoints").restore_params(params)
    apply_fn = jax.jit(lambda p, images: model.apply({"params": p}, images))

    results = eval_lib.predict_examples(
        apply_fn, params, examples, skeleton=skeleton, scales=[float(s) for s in _SCALES.value],
        flip=_FLIP.value, stride=config.data.stride, total=count,
    )  # fmt: skip
    gts = [r.ground_truth for r in results]
    predictions = [eval_lib.to_prediction(r.ground_truth.name, r.people) for r in results]
    result, bins = eval_lib.score(gts, predictions, multi_person_groups=_GROUPS.value)

    output.mkdir(parents=True, exist_ok=True)
    mpii_json_write.write_json(output / "predictions.json", mpii_json_write.predictions_to_json(predictions))
    mpii_json_write.write_json(output / "ground_truth.json", mpii_json_write.ground_truth_to_json(gts))
    mpii_json_write.write_json(output / "predictions_coco.json", coco_export.to_coco_results(predictions))
    mpii_json_write.write_json(output / "results.json", report.result_to_json(result, bins))
    table = report.markdown_table(result.table, label=workdir.name)
    (output / "table.md").write_text(table + "\n")
    report.plot_visibility_bins(bins, output / "visibility.png", title=f"{workdir.name} ({_SPLIT.value})")
    pictures = output / "pictures"
    pictures.mkdir(exist_ok=True)
    for i, r in enumerate(results[: _PICTURES.value]):
        image = datasets.decode_example(source[i]).image
        drawn = visualize.draw_people(image, r.people.parts, r.people.part_scores, skeleton)
        Image.fromarray(drawn).save(pictures / (pathlib.Path(r.ground_truth.name).stem + ".jpg"), quality=90)
    print(table)
    unscored = sum(r.unscored_people for r in results)
    if unscored:
        print(f"note: {unscored} annotated people without a head box were not scored")
    found = sum(q.num_people for q in predictions)
    print(f"wrote {output}: {len(predictions)} images, {found} predicted people")


if __name__ == "__main__":
    app.run(main)
