"""mpii_multiperson: MPII Human Pose training images with all their annotated people (the real data D_R).

Splits: `validation` = the images of `num_validation_groups` multi-person groups drawn with a fixed
seed (the paper's section 5: 343 groups of people in close proximity); `train` = every other training
image with an annotated person. The schema is data_builders.features (shared by all our datasets).
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from data_builders.base import MultiPersonBuilder
from data_builders.features import encode_mask, make_example, multiperson_features
from data_builders.mpii_multiperson import annotations, json_format, mat_format
from data_builders.mpii_multiperson.annotations import ImageAnnotation
from ltsh_jax.data import validation
from ltsh_jax.data.bad_input import BadInputReport
from ltsh_jax.data.schema import NO_GROUP, NOT_LABELLED
from ltsh_jax.data.user_paths import UnsafePathError, confined_path

IMAGES_DIR = "images"
MASKS_DIR = "unannotated_masks"
# The masks as the paper's authors released them: masks/mask_<image name> (JPEG), read by their
# tf_pose/pose_dataset_personLevel_minDist.py (`read_image_url`) with cv2.threshold(mask, 30, ...): a pixel
# counts when > 30, because JPEG noise leaves small nonzero values everywhere.
RELEASED_MASKS_DIR = "masks"
RELEASED_MASK_PREFIX = "mask_"
JPEG_MASK_THRESHOLD = 30


@dataclasses.dataclass(frozen=True)
class MaskFolders:
    """Where a manual_dir keeps masks of its unannotated people: ours (lossless PNG, nonzero = person) and the
    authors' release (JPEG, > JPEG_MASK_THRESHOLD = person); None when the folder is absent."""

    ours: pathlib.Path | None = None
    released: pathlib.Path | None = None

    @classmethod
    def of(cls, manual_dir: pathlib.Path) -> MaskFolders:
        ours, released = manual_dir / MASKS_DIR, manual_dir / RELEASED_MASKS_DIR
        return cls(ours if ours.is_dir() else None, released if released.is_dir() else None)


PAPER_VALIDATION_GROUPS = 343


@dataclasses.dataclass
class MpiiMultipersonConfig(tfds.core.BuilderConfig):
    """num_validation_groups: groups drawn for validation; split_seed: seed of np.random.default_rng;
    validation_file: instead of the draw, the groups of the images a split file names (in manual_dir: the
    paper's annotation JSON with `isValidation`, or one image name per line; annotations.read_validation_names)."""

    num_validation_groups: int = PAPER_VALIDATION_GROUPS
    split_seed: int = 0
    validation_file: str = ""


class Builder(MultiPersonBuilder):
    """MPII multi-person (manual download). Pass on_bad_input="skip" to skip and report bad records."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        MpiiMultipersonConfig(
            name="default",
            description="Validation = 343 multi-person groups drawn with seed 0, as in the paper (section 5).",
        )
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
    Download MPII Human Pose v1 from http://human-pose.mpi-inf.mpg.de (images: mpii_human_pose_v1.tar.gz,
    annotations: mpii_human_pose_v1_u12_2.zip) and put into manual_dir:
      {IMAGES_DIR}/            every image, e.g. {IMAGES_DIR}/015601864.jpg (what the image archive extracts to);
                               without this folder, images are looked up in manual_dir itself.
    and ONE of
      {mat_format.MAT_FILE}   the official annotation file (from the zip), or
      *.json                   the common JSON records (image, center, scale, joints, joints_vis), e.g.
                               HRNet's annot/train.json + annot/valid.json or MMPose's mpii_train.json +
                               mpii_val.json (not test.json: it has no joints). The .mat wins if both exist.
    Optional:
      {MASKS_DIR}/ <image name without extension>.png: nonzero where people without annotations are,
                               same size as the image; or the paper's released masks as they come,
      {RELEASED_MASKS_DIR}/ {RELEASED_MASK_PREFIX}<image name> (JPEG): a person where the value is
                               > {JPEG_MASK_THRESHOLD}.
    Then: python -m data_builders.build mpii_multiperson --data_dir=DATA --manual_dir=THAT_FOLDER
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=multiperson_features(),
            homepage="http://human-pose.mpi-inf.mpg.de",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict:
        manual_dir = pathlib.Path(dl_manager.manual_dir)
        images_dir = manual_dir / IMAGES_DIR if (manual_dir / IMAGES_DIR).is_dir() else manual_dir
        masks_dir = MaskFolders.of(manual_dir)
        source, images = _load_annotations(manual_dir, self.report)
        images = usable_images(images, images_dir, masks_dir, self.report)
        if not images:
            raise ValueError(f"{manual_dir}: no image left to write\n{self.report.summary()}")
        groups = [im.group_id for im in images if im.group_id is not None]
        config = self.builder_config
        if config.validation_file:
            split_file = confined_path(manual_dir, config.validation_file, "validation_file")
            if not split_file.is_file():
                raise FileNotFoundError(f"{split_file}: no such validation split file (validation_file)")
            chosen, note = annotations.groups_named(images, annotations.read_validation_names(split_file))
        else:
            chosen, note = annotations.draw_validation_groups(groups, config.num_validation_groups, config.split_seed)
        if note:
            self.report.note("validation_groups", note)
        chosen_set = set(chosen)
        validation = [im for im in images if im.group_id in chosen_set]
        train = [im for im in images if im.group_id not in chosen_set]
        self.info.metadata.update(
            annotation_source=source,
            head_box_source="annotation" if source.endswith(".mat") else "derived from head top and upper neck",
            validation_groups=chosen,
            validation_source=config.validation_file or f"{len(chosen)} groups drawn with seed {config.split_seed}",
            num_multiperson_groups=len(groups),
        )
        splits = {"train": self._generate_examples(train, images_dir, masks_dir)}
        if validation:  # TFDS cannot write an empty split; inputs without groups get no validation split
            splits["validation"] = self._generate_examples(validation, images_dir, masks_dir)
        return splits

    def _generate_examples(
        self, images: list[ImageAnnotation], images_dir: pathlib.Path, masks_dir: MaskFolders
    ) -> Iterator[tuple[str, dict]]:
        for image in images:
            yield image.name, _example(image, images_dir, masks_dir)


def _load_annotations(manual_dir: pathlib.Path, report: BadInputReport) -> tuple[str, list[ImageAnnotation]]:
    """(source description, images) from the .mat if present, else from the JSON files."""
    mat = manual_dir / mat_format.MAT_FILE
    if mat.is_file():
        for path in sorted(manual_dir.glob("*.json")):
            report.note("ignored_file", f"{path}: not read, {mat.name} takes precedence")
        return mat.name, mat_format.load_mat(mat, report)
    files = json_format.find_json_files(manual_dir, report)
    if not files:
        raise FileNotFoundError(
            f"{manual_dir}: no annotation file: neither {mat_format.MAT_FILE} nor a *.json file holding a list of "
            "MPII person records; see Builder.MANUAL_DOWNLOAD_INSTRUCTIONS"
        )
    return ", ".join(path.name for path, _ in files), json_format.load_json(files, report)


def image_path(images_dir: pathlib.Path, image: ImageAnnotation) -> pathlib.Path:
    """The image's file, confined to images_dir (UnsafePathError naming the annotation record otherwise)."""
    return confined_path(images_dir, image.name, image.where)


def _mask_path(masks: MaskFolders, image: ImageAnnotation) -> tuple[pathlib.Path, int] | None:
    """(the image's unannotated-people mask, its threshold: a person where value > threshold), None when there
    is none; ours (PNG, > 0) before the authors' release (JPEG, > 30); confined to its folder."""
    name = pathlib.PurePosixPath(image.name.replace("\\", "/"))
    candidates = []
    if masks.ours is not None:
        candidates.append((masks.ours, name.with_suffix(".png").as_posix(), MASKS_DIR, 0))
    if masks.released is not None:
        released = name.with_name(RELEASED_MASK_PREFIX + name.name).as_posix()
        candidates.append((masks.released, released, RELEASED_MASKS_DIR, JPEG_MASK_THRESHOLD))
    for folder, mask_name, label, threshold in candidates:
        path = confined_path(folder, mask_name, f"{image.where} (its mask in {label}/)")
        if path.is_file():
            return path, threshold
    return None


def _read_mask(mask: tuple[pathlib.Path, int], width: int, height: int) -> bytes:
    """The mask (path, threshold) as the schema's canonical PNG; ValueError if it does not decode or has
    another size than its image."""
    path, threshold = mask
    try:
        with Image.open(path) as image:
            values = np.asarray(image.convert("L"))
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"{path}: cannot decode the mask ({e})") from None
    if values.shape != (height, width):
        raise ValueError(f"{path}: mask is {values.shape[1]}x{values.shape[0]}, its image {width}x{height}")
    return encode_mask(values > threshold)


def usable_images(
    images: list[ImageAnnotation], images_dir: pathlib.Path, masks_dir: MaskFolders, report: BadInputReport
) -> list[ImageAnnotation]:
    """The images that can be written, their sizes set; the others reported (ltsh_jax.data.validation's rules,
    plus the mask: inside masks_dir, decodable, of the image's size)."""

    def mask_problem(i: int, width: int, height: int) -> tuple[str, str] | None:
        try:
            mask = _mask_path(masks_dir, images[i])
        except UnsafePathError as e:
            return "unsafe_path", f"{e}; skipping the image"
        if mask is not None:
            try:
                _read_mask(mask, width, height)
            except ValueError as e:
                return "bad_mask", f"{e}; skipping image {images[i].name}"
        return None

    items = [
        validation.ImageToCheck(
            images_dir,
            image.name,
            image.where,
            np.stack([p.keypoints[:, :2] for p in image.people]),
            np.stack([p.keypoints[:, 2] != NOT_LABELLED for p in image.people]),
            [p.where for p in image.people],
        )
        for image in images
    ]
    usable = []
    for image, size in zip(images, validation.check_images(items, report, mask_problem), strict=True):
        if size is not None:
            image.width, image.height = size
            usable.append(image)
    return usable


def _example(image: ImageAnnotation, images_dir: pathlib.Path, masks_dir: MaskFolders) -> dict:
    people = image.people
    mask = _mask_path(masks_dir, image)
    return make_example(
        image=image_path(images_dir, image).read_bytes(),
        filename=image.name,
        height=image.height,
        width=image.width,
        keypoints=np.stack([p.keypoints for p in people]),
        head_box=np.stack([p.head_box for p in people]),
        objpos=np.stack([p.objpos for p in people]),
        scale=np.asarray([p.scale for p in people]),
        is_synthetic=np.zeros(len(people), bool),
        group_id=np.asarray([image.index if p.in_group else NO_GROUP for p in people]),
        unannotated_mask=b"" if mask is None else _read_mask(mask, image.width, image.height),
    )
