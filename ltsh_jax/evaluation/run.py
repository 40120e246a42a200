"""Trained student -> people on whole images -> MPII multi-person AP, and every output of an evaluation.

The glue between the network (multi-scale, flip-averaged maps from `assemble.maps`), decoding
(`assemble.assemble`) and the protocol (`evaluation`). Shared by `experiments/evaluate.py`,
`experiments/reproduce.py` and the demo, so a table row, a one-off evaluation and the demo report all
come from the same files: predictions.json and ground_truth.json (MPII annolist format),
predictions_coco.json, results.json (per-joint AP, the seven-column table, visibility bins), table.md,
visibility.png and pictures/ with the ground truth beside the predicted skeletons.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np
import tqdm
from PIL import Image

from ltsh_jax import paths, visualize
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.data import sources, splits
from ltsh_jax.data.schema import NOT_LABELLED, VISIBLE
from ltsh_jax.data.sources import PeopleRecord
from ltsh_jax.decode import assemble, maps
from ltsh_jax.evaluation import coco_export, groups, mpii_ap, mpii_json_write, report, visibility
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage
from ltsh_jax.models.openpose import build_model, get_skeleton, init_params
from ltsh_jax.skeleton import Skeleton, from_mpii16


@dataclasses.dataclass(frozen=True)
class ImageResult:
    """One image's annotated people and what the student found (MPII-16 for scoring, parts for drawing)."""

    ground_truth: GroundTruthImage
    unscored_people: int  # annotated people without a head box, left out of the ground truth
    people: assemble.DecodedPeople


def ground_truth_of(example: PeopleRecord) -> tuple[GroundTruthImage, int]:
    """The example's annotated people as a GroundTruthImage, and how many were dropped for lack of a head box."""
    visibility = example.visibility
    keep = np.isfinite(example.head_box).all(axis=1) & (visibility > NOT_LABELLED).any(axis=1)
    gt = GroundTruthImage(
        name=example.name,
        keypoints=example.keypoints[keep].astype(np.float64),
        present=visibility[keep] > NOT_LABELLED,
        visible=visibility[keep] == VISIBLE,
        head_boxes=example.head_box[keep].astype(np.float64),
        groups=example.group_id[keep].astype(np.int64),
    )
    return gt, int((~keep).sum())


def to_prediction(name: str, people: assemble.DecodedPeople) -> PredictionImage:
    """Decoded people in the evaluation's record."""
    return PredictionImage(
        name=name,
        keypoints=people.keypoints.astype(np.float64),
        present=people.scores > 0,
        scores=people.scores.astype(np.float64),
        person_scores=people.person_scores.astype(np.float64),
    )


def training_size_height(image_height: int, person_scale: float, target_scale: float) -> int:
    """The height at which an image whose people are `person_scale` tall (MPII scale: height / 200 px) shows
    them at the training crops' size: image_height * target_scale / person_scale (data.augment), at least 1."""
    return max(1, round(image_height * target_scale / person_scale))


def people_size_height(example: PeopleRecord, target_scale: float) -> int | None:
    """The image height at which the example's annotated people come out at the training size, or None.

    Training crops scale an image by target_scale / (person scale) (data.augment); at test time the image
    is scaled by target_scale / mean(scale of its people), as CMU's and the paper's MPII test code scale
    each group by (41/35) / mean(scale) (ZheC `testing/evalMPII.m`; docs/reference.md). None when the
    example has no annotated person with a positive scale (then the caller's fixed size applies).
    """
    scales = np.asarray(example.scales, np.float64)
    known = np.isfinite(scales) & (scales > 0) & np.asarray(example.labelled).any(axis=1)
    if not known.any():
        return None
    return training_size_height(example.image.shape[0], float(scales[known].mean()), target_scale)


def nearest_joint_errors(results: Sequence[ImageResult]) -> tuple[np.ndarray, np.ndarray]:
    """(errors, thresholds) in pixels of every labelled joint that has a predicted joint of its kind: the distance
    to the nearest one, and the joint's PCKh threshold (half its person's head size)."""
    errors, thresholds = [], []
    for result in results:
        truth, people = result.ground_truth, result.people
        half_heads = 0.5 * mpii_ap.head_sizes(truth.head_boxes)
        for g, joint in zip(*np.nonzero(truth.present), strict=True):
            found = people.scores[:, joint] > 0
            if found.any():
                errors.append(np.hypot(*(people.keypoints[found, joint] - truth.keypoints[g, joint]).T).min())
                thresholds.append(half_heads[g])
    return np.asarray(errors, np.float64), np.asarray(thresholds, np.float64)


def predict_people(
    apply_fn: Callable,
    params,
    image: np.ndarray,
    *,
    skeleton: Skeleton,
    scales: Sequence[float],
    flip: bool,
    stride: int,
    base_size: int,
    decode_params: assemble.DecodeParams | None = None,
) -> assemble.DecodedPeople:
    """The people the student finds in one image uint8 [H, W, 3]: maps averaged over scales (scale s shows the
    image at height s * base_size) and flip (`maps.predict_maps`), decoded in the image's pixels."""
    image_maps = maps.predict_maps(
        apply_fn, params, image, skeleton=skeleton, scales=scales, flip=flip, stride=stride, base_size=base_size
    )
    return assemble.decode(
        image_maps.heatmaps, image_maps.pafs, skeleton=skeleton, input_size=image.shape[:2],
        stride=image_maps.stride, params=decode_params or assemble.DecodeParams(),
    )  # fmt: skip


def predict_examples(
    apply_fn: Callable,
    params,
    examples: Iterable[PeopleRecord],
    *,
    skeleton: Skeleton,
    scales: Sequence[float] = (0.7, 1.0, 1.3),
    flip: bool = True,
    stride: int = 8,
    base_size: int = 368,
    target_scale: float | None = None,
    decode_params: assemble.DecodeParams | None = None,
    total: int | None = None,
) -> list[ImageResult]:
    """Runs the student on whole images and decodes its people (a progress bar over images).

    Scale s shows the network the image at height s * base_size; with `target_scale`, the base is instead
    each image's `people_size_height` (base_size for images without annotated people).
    """
    out = []
    for example in tqdm.tqdm(examples, total=total, desc="predict", unit="image", mininterval=2):
        height = people_size_height(example, target_scale) if target_scale else None
        people = predict_people(
            apply_fn, params, example.image, skeleton=skeleton, scales=scales, flip=flip, stride=stride,
            base_size=height or base_size, decode_params=decode_params,
        )  # fmt: skip
        out.append(ImageResult(*ground_truth_of(example), people))
    return out


def score(
    ground_truth: Sequence[GroundTruthImage], predictions: Sequence[PredictionImage], *, multi_person_groups: bool
) -> tuple[mpii_ap.MPIIResult, list[visibility.VisibilityBin]]:
    """AP (and the Figure 6 visibility breakdown) of aligned predictions.

    With `multi_person_groups`, only the people of MPII's multi-person groups are scored, with the
    predictions inside each group's area (the official protocol); otherwise every annotated person.
    """
    if multi_person_groups:
        ground_truth, predictions = groups.restrict_to_groups(ground_truth, predictions)
        if not ground_truth:
            raise ValueError(
                "no annotated person belongs to a multi-person group: score with multi_person_groups=False"
            )
    result = mpii_ap.evaluate(ground_truth, predictions)
    return result, visibility.visibility_bins(result.assignment)


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """What to evaluate on and how (the CMU MPII test scales and flip by default)."""

    dataset: str = "mpii_multiperson"
    split: str = "validation"
    data_dir: str = "~/tensorflow_datasets"
    builder_config: str = ""
    scales: tuple[float, ...] = (0.7, 1.0, 1.3)
    # True: scale s shows each image with its people at s x their training size (people_size_height, the
    # reference's rule); False: at height s x 368 whatever the people's size (the earlier behaviour)
    people_size: bool = True
    flip: bool = True
    max_images: int = 0  # 0: every image of the split
    pictures: int = 8  # draw ground truth beside prediction on this many images
    multi_person_groups: bool = True  # score only MPII multi-person groups (the official protocol)
    # decoded people with fewer parts are dropped: 3 in the paper's MPI test (its pafprocess_mpi.h
    # THRESH_PART_CNT), 4 in CMU's COCO test (ZheC testing/config.m min_num); docs/reference.md
    min_parts: int = assemble.DecodeParams.min_parts


class Student(NamedTuple):
    """A run's trained student: its checkpoint step, jitted apply_fn(params, images), parameters and skeleton."""

    step: int
    apply_fn: Callable
    params: Any
    skeleton: Skeleton


def load_student(config: ml_collections.ConfigDict, workdir: str | os.PathLike, step: int | None = None) -> Student:
    """The student of checkpoint `step` of `workdir` (default: the latest; built from `config`); FileNotFoundError
    when the run has no checkpoint yet. `workdir` may be a cloud URI (ltsh_jax.paths)."""
    workdir = paths.as_path(workdir)
    if not (workdir / "checkpoints").is_dir():  # checked first: the Checkpointer would create the folder
        raise FileNotFoundError(f"{workdir} has no checkpoints/: is it a training run (experiments.train's --workdir)?")
    checkpointer = Checkpointer(workdir / "checkpoints", only_this_process=True)  # read by one process
    step = checkpointer.latest_step() if step is None else step
    if step is None:
        checkpointer.close()
        raise FileNotFoundError(f"{workdir} has no checkpoint yet: train it first (experiments.train)")
    skeleton = get_skeleton(config)
    model = build_model(config, skeleton)
    # only the shapes: running init eagerly takes over a minute on a busy 2-core CPU, even for the tiny student
    shapes = jax.eval_shape(lambda: init_params(model, config, jax.random.key(0)))
    params = checkpointer.restore_params(shapes, step)
    checkpointer.close()
    apply_fn = jax.jit(lambda p, images: model.apply({"params": p}, images))
    return Student(int(step), apply_fn, params, skeleton)


def predict_checkpoint(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    source,
    settings: EvalSettings,
    step: int | None = None,
) -> tuple[int, list[ImageResult]]:
    """(step, results) of checkpoint `step` of `workdir` (default: the latest) on the first settings.max_images
    (0: all) examples of `source`, at settings' scales, flip and people size; FileNotFoundError when the run
    has no checkpoint yet."""
    student = load_student(config, workdir, step)
    count = len(source) if not settings.max_images else min(settings.max_images, len(source))
    examples = (sources.decode_example(source[i]) for i in range(count))
    results = predict_examples(
        student.apply_fn, student.params, examples, skeleton=student.skeleton, scales=list(settings.scales),
        flip=settings.flip, stride=config.data.stride,
        target_scale=config.data.augment.target_scale if settings.people_size else None, total=count,
        decode_params=assemble.DecodeParams(min_parts=settings.min_parts),
    )  # fmt: skip
    return student.step, results


def truth_beside_prediction(image: np.ndarray, result: ImageResult, skeleton: Skeleton) -> np.ndarray:
    """The image twice, side by side: its scored annotated people (left) and the people the student found (right)."""
    gt = result.ground_truth
    truth, labelled = from_mpii16(skeleton, gt.keypoints, gt.present)
    return visualize.side_by_side([
        ("ground truth", visualize.draw_people(image, truth, labelled.astype(np.float32), skeleton)),
        ("prediction", visualize.draw_people(image, result.people.parts, result.people.part_scores, skeleton)),
    ])  # fmt: skip


def eval_output_dir(
    workdir: str | os.PathLike, settings: EvalSettings, output_dir: str | os.PathLike | None = None
) -> pathlib.Path:
    """Where an evaluation's outputs go: output_dir when given, else WORKDIR/eval_SPLIT."""
    return paths.as_path(output_dir) if output_dir else paths.as_path(workdir) / f"eval_{settings.split}"


def evaluate_checkpoint(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    settings: EvalSettings,
    output_dir: str | os.PathLike | None = None,
) -> dict:
    """Scores the latest checkpoint of `workdir`; writes the outputs to output_dir and returns the results JSON.

    FileNotFoundError (with the build command) when the dataset is not built, or when the run has no
    checkpoint yet. `workdir` and `output_dir` may be cloud URIs (ltsh_jax.paths).
    """
    workdir = paths.as_path(workdir)
    output = eval_output_dir(workdir, settings, output_dir)
    source = splits.load_split(settings.dataset, settings.split, settings.data_dir, settings.builder_config or None)
    step, results = predict_checkpoint(config, workdir, source, settings)
    gts = [r.ground_truth for r in results]
    predictions = [to_prediction(r.ground_truth.name, r.people) for r in results]
    result, bins = score(gts, predictions, multi_person_groups=settings.multi_person_groups)

    output.mkdir(parents=True, exist_ok=True)
    mpii_json_write.write_json(output / "predictions.json", mpii_json_write.predictions_to_json(predictions))
    mpii_json_write.write_json(output / "ground_truth.json", mpii_json_write.ground_truth_to_json(gts))
    mpii_json_write.write_json(output / "predictions_coco.json", coco_export.to_coco_results(predictions))
    results_json = report.result_to_json(result, bins)
    results_json["run"] = {
        "workdir": str(workdir),
        "checkpoint_step": int(step),
        "settings": dataclasses.asdict(settings),
        "images": len(results),
        "unscored_people": sum(r.unscored_people for r in results),
    }
    paths.write_atomically(output / "results.json", json.dumps(results_json, indent=2) + "\n")
    paths.write_atomically(output / "table.md", report.markdown_table(result.table, label=workdir.name) + "\n")
    report.plot_visibility_bins(bins, output / "visibility.png", title=f"{workdir.name} ({settings.split})")
    pictures = output / "pictures"
    pictures.mkdir(parents=True, exist_ok=True)
    skeleton = get_skeleton(config)
    for i, r in enumerate(results[: settings.pictures]):
        drawn = truth_beside_prediction(sources.decode_example(source[i]).image, r, skeleton)
        jpeg = io.BytesIO()
        Image.fromarray(drawn).save(jpeg, format="JPEG", quality=90)
        paths.write_atomically(pictures / (pathlib.PurePath(r.ground_truth.name).stem + ".jpg"), jpeg.getvalue())
    return results_json


def evaluation_of(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    settings: EvalSettings,
    output_dir: str | os.PathLike | None = None,
) -> dict:
    """The results JSON of output_dir (default WORKDIR/eval_SPLIT), evaluated now unless it already scores the
    run's final checkpoint with exactly these settings (dataset, split, data_dir, builder config, scales, flip,
    image limit, ...), so a rerun of a killed table or demo redoes only what is missing, and other settings
    never return old numbers under new labels. An output_dir elsewhere scores a run that is read-only (the
    demo's shipped baseline)."""
    output = eval_output_dir(workdir, settings, output_dir)
    results_path = output / "results.json"
    if results_path.exists():
        results = json.loads(results_path.read_text())
        run = results.get("run", {})
        wanted = json.loads(json.dumps(dataclasses.asdict(settings)))  # as results.json holds it: tuples as lists
        if run.get("checkpoint_step") == config.train.num_steps and run.get("settings") == wanted:
            return results
    return evaluate_checkpoint(config, workdir, settings, output)
