"""A trained student on a folder of the user's own photos: people per image, as JSON and as pictures.

Photos come without annotations, so nobody knows how tall their people are. The default is the scale search of
CMU's OpenPose test code (ZheC/Realtime_Multi-Person_Pose_Estimation `testing/python/config` and
`testing/config.m`: `scale_search = 0.5, 1, 1.5, 2`, `boxsize = 368`; its Python demo, as the many forks that
copy it show, resizes by `multiplier = scale_search * boxsize / image height` and averages the maps over the
scales). Our box is the run's training crop, `config.data.input_size` (368 in the paper's configs): scale s
shows the photo at height s x input_size, where a person of the training size (target_scale x 200 px) fills
target_scale x 200 / (s x input_size) of the photo's height; for the paper's configs (1.25 x 200 px people in
368 px crops) the four scales look for people of about 1.36, 0.68, 0.45 and 0.34 of the photo's height,
whatever its resolution. A user who knows the people's height in pixels (`people_height`) gets the
evaluation's rule instead: the photo scaled so those people come out at the training size
(`run.training_size_height`), times the MPII test scales 0.7, 1, 1.3 (`EvalSettings.scales`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
from collections.abc import Sequence

import ml_collections
import numpy as np
import tqdm
from PIL import Image

from ltsh_jax import visualize
from ltsh_jax.data import decoding
from ltsh_jax.decode import assemble
from ltsh_jax.evaluation import coco_export, mpii_json_write, run
from ltsh_jax.evaluation.records import PredictionImage
from ltsh_jax.paths import require_local

CMU_SCALE_SEARCH = (0.5, 1.0, 1.5, 2.0)  # ZheC testing/python/config `scale_search`, times the training box
KNOWN_SIZE_SCALES = (0.7, 1.0, 1.3)  # the MPII test scales around the people's known size (EvalSettings.scales)
MPII_SCALE_PX = 200.0  # MPII `scale` is a person's height in units of 200 px
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclasses.dataclass(frozen=True)
class PhotoSettings:
    """How photos are shown to the network (the scales, the people's height if known, the mirror image) and the
    fewest parts a decoded person needs to be kept."""

    scales: tuple[float, ...] = ()  # (): CMU_SCALE_SEARCH, or KNOWN_SIZE_SCALES with people_height
    people_height: float = 0.0  # pixels in the user's photos; 0: unknown, search (module docstring)
    flip: bool = True  # average the maps with those of the mirrored photo
    min_parts: int = assemble.DecodeParams.min_parts  # 3: the paper's MPI test; 4: CMU's COCO test and demo

    def __post_init__(self):
        if self.people_height < 0 or not np.isfinite(self.people_height):
            raise ValueError(
                f"people_height must be a positive number of pixels (0: unknown), got {self.people_height}"
            )
        if any(not (s > 0) for s in self.scales):
            raise ValueError(f"scales must be positive, got {self.scales}")
        if self.min_parts < 1:
            raise ValueError(f"min_parts must be at least 1, got {self.min_parts}")

    @property
    def chosen_scales(self) -> tuple[float, ...]:
        return self.scales or (KNOWN_SIZE_SCALES if self.people_height else CMU_SCALE_SEARCH)


@dataclasses.dataclass(frozen=True)
class TrainingSize:
    """What the run's config says about the size the network learned people at."""

    input_size: int  # the training crop's side (CMU's boxsize)
    target_scale: float  # crop pixels per image pixel x the MPII person scale: people target_scale x 200 px tall
    stride: int

    @classmethod
    def of(cls, config: ml_collections.ConfigDict) -> TrainingSize:
        data = config.data
        return cls(int(data.input_size), float(data.augment.target_scale), int(data.stride))

    def base_height(self, image_height: int, settings: PhotoSettings) -> int:
        """The height at which scale 1 shows a photo: the training box, or the people's training size if known."""
        if settings.people_height:
            return run.training_size_height(image_height, settings.people_height / MPII_SCALE_PX, self.target_scale)
        return self.input_size

    def describe(self, settings: PhotoSettings) -> str:
        """One line on what the scales look for, for the user."""
        scales = ", ".join(f"{s:g}" for s in settings.chosen_scales)
        if settings.people_height:
            return f"people about {settings.people_height:g} px tall, scales {scales} around their training size"
        person = self.target_scale * MPII_SCALE_PX
        fractions = sorted(person / (s * self.input_size) for s in settings.chosen_scales)
        return (f"scale search {scales} x the {self.input_size} px training box: people about "
                f"{fractions[0]:.0%} to {fractions[-1]:.0%} of each image's height")  # fmt: skip


def predict_photo(
    student: run.Student,
    image: np.ndarray,
    size: TrainingSize,
    settings: PhotoSettings,
    decode_params: assemble.DecodeParams | None = None,
) -> assemble.DecodedPeople:
    """The people `student` finds in one photo uint8 [H, W, 3], in its pixels (decoded with `decode_params`, by
    default the OpenPose MPII settings with settings.min_parts)."""
    return run.predict_people(
        student.apply_fn, student.params, image, skeleton=student.skeleton, scales=settings.chosen_scales,
        flip=settings.flip, stride=size.stride, base_size=size.base_height(image.shape[0], settings),
        decode_params=decode_params or assemble.DecodeParams(min_parts=settings.min_parts),
    )  # fmt: skip


# Why the photos and predict's outputs must be local (only the run's workdir may be a cloud URI).
_LOCAL_ONLY = "predict lists, reads and writes its photos and overlays as files on this machine"


def list_images(directory: str | pathlib.Path) -> list[pathlib.Path]:
    """The .jpg/.jpeg/.png files (any case) directly in `directory`, sorted by name; FileNotFoundError naming the
    folder when it does not exist or holds none."""
    directory = require_local(directory, "the folder of photos", _LOCAL_ONLY)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such folder of images")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise FileNotFoundError(f"{directory}: no .jpg, .jpeg or .png images in it")
    return paths


def read_photo(path: pathlib.Path) -> np.ndarray:
    """uint8 RGB [H, W, 3], turned upright by its EXIF orientation; ValueError naming the file when it cannot be
    read or decoded (truncated, corrupt, not an image)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path.name}: cannot read ({error.strerror or error})") from None
    return decoding.decode_image(data, path.name, upright=True)


def overlay_names(names: Sequence[str]) -> dict[str, str]:
    """File name of each photo's overlay: its stem + .jpg, or its whole name + .jpg where two stems collide."""
    stems = [pathlib.PurePath(n).stem for n in names]
    return {n: (s if stems.count(s) == 1 else n) + ".jpg" for n, s in zip(names, stems, strict=True)}


def coco_image_ids(names: Sequence[str]) -> dict[str, int]:
    """COCO image ids: the numbers in the names when every name is a distinct number (COCO's and MPII's files,
    so the results can be scored against their annotations), else 1, 2, ... in the names' sorted order."""
    stems = [pathlib.PurePath(n).stem for n in names]
    if all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return {n: int(s) for n, s in zip(names, stems, strict=True)}
    return {n: i + 1 for i, n in enumerate(sorted(names))}


@dataclasses.dataclass(frozen=True)
class FolderSummary:
    """What predict_folder did: the checkpoint used, images decoded, people found, files skipped with why."""

    step: int
    images: int
    people: int
    skipped: tuple[tuple[str, str], ...]  # (file name, reason)
    output: pathlib.Path

    def line(self) -> str:
        skipped = f", skipped {len(self.skipped)}: {', '.join(n for n, _ in self.skipped)}" if self.skipped else ""
        return (f"{self.images} images, {self.people} people found (checkpoint {self.step}){skipped}; "
                f"wrote {self.output}")  # fmt: skip


def _inside(path: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"refusing to write {path}: outside {root}")
    return path


def predict_folder(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    images_dir: str | pathlib.Path,
    output_dir: str | pathlib.Path,
    settings: PhotoSettings = PhotoSettings(),
    student: run.Student | None = None,
) -> FolderSummary:
    """Finds the people in every photo of `images_dir` with the latest student of `workdir` and writes to output_dir:
    predictions.json (MPII annolist, names relative to images_dir), predictions_coco.json (COCO keypoint
    results, ids in images.json), images.json (per image: size, COCO id, people; the files skipped and why) and
    overlays/<stem>.jpg (the skeletons drawn). A file that does not decode is named in a one-line warning,
    skipped and counted. FileNotFoundError for a missing or empty folder or a run without a checkpoint.
    `student` replaces the run's (tests). `workdir` may be a cloud URI; images_dir and output_dir must be local."""
    output = require_local(output_dir, "the output folder", _LOCAL_ONLY)
    paths = list_images(images_dir)
    student = student or run.load_student(config, workdir)
    size = TrainingSize.of(config)
    overlays = output / "overlays"
    overlays.mkdir(parents=True, exist_ok=True)
    overlay_of = overlay_names([p.name for p in paths])
    print(f"{len(paths)} images in {images_dir}; {size.describe(settings)}", file=sys.stderr)

    predictions: list[PredictionImage] = []
    shapes: dict[str, tuple[int, int]] = {}
    skipped: list[tuple[str, str]] = []
    for path in tqdm.tqdm(paths, desc="predict", unit="image", mininterval=2):
        try:
            image = read_photo(path)
        except ValueError as error:
            skipped.append((path.name, str(error)))
            tqdm.tqdm.write(f"warning: skipped {error}", file=sys.stderr)
            continue
        people = predict_photo(student, image, size, settings)
        predictions.append(run.to_prediction(path.name, people))
        shapes[path.name] = image.shape[:2]
        drawn = visualize.draw_people(image, people.parts, people.part_scores, student.skeleton)
        Image.fromarray(drawn).save(_inside(overlays / overlay_of[path.name], output), quality=90)

    ids = coco_image_ids([p.name for p in predictions])
    mpii_json_write.write_json(output / "predictions.json", mpii_json_write.predictions_to_json(predictions))
    mpii_json_write.write_json(
        output / "predictions_coco.json", coco_export.to_coco_results(predictions, image_ids=ids)
    )
    summary = FolderSummary(
        student.step, len(predictions), sum(p.num_people for p in predictions), tuple(skipped), output
    )
    index = {
        "workdir": str(workdir),
        "checkpoint_step": summary.step,
        "settings": {**dataclasses.asdict(settings), "scales": list(settings.chosen_scales)},
        "search": size.describe(settings),
        "images": [
            {"name": p.name, "height": shapes[p.name][0], "width": shapes[p.name][1], "coco_image_id": ids[p.name],
             "people": p.num_people, "overlay": f"overlays/{overlay_of[p.name]}"}
            for p in predictions
        ],
        "skipped": [{"name": name, "reason": reason} for name, reason in skipped],
    }  # fmt: skip
    (output / "images.json").write_text(json.dumps(index, indent=2) + "\n")
    return summary
