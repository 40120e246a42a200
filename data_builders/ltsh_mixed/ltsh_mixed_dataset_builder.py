"""ltsh_mixed: the mixed dataset D_M (paper section 3.3): MPII training photos with synthetic humans on top.

Input: the MPII manual_dir of data_builders.mpii_multiperson (images + .mat or JSON annotations, optional
unannotated masks), read and checked by that builder's own code, with the same validation split: the
images of its validation groups are left out, so D_M never shows a validation photo. For every other
image, `num_renders` examples (5 in the paper), each with Poisson(4) synthetic humans composited over
the photo at its own resolution (ltsh_jax.synth.mixed: fixed camera, humans sized and placed from the
real people's scale and centres), dressed and lit as D_S `reference` (spherical-harmonics lighting; config
field `lighting`). Each example keeps the MPII people first, exactly as D_R stores them,
then the synthetic people (`is_synthetic`, their own keypoints, head boxes, scales, group NO_GROUP).
`instance_mask`: person k + 1 where synthetic person k (index in the example's people) is drawn, 0 on the
photo. A real joint covered by a synthetic human is where the instance mask is nonzero at its rounded
pixel (ltsh_jax.synth.mixed.covered_joints), stored as `people/covered_by_synthetic`.
`min_distance` counts the synthetic people too (they are people of the image); camera_pitch is NaN
(the photo's own camera is unknown; the render camera is level).
Images are lossless PNG (the photo's pixels untouched outside the synthetic humans and their motion blur, config
field `motion_blur`: within a blur length of their edges).

Example k of an image is generated from SeedSequence([config.seed, image index, k]) alone (image index:
the source's annolist index or sorted-name position), so a rebuild is byte-identical.
Build: `python -m data_builders.build ltsh_mixed --data_dir=DATA --manual_dir=MPII`.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from data_builders.base import MultiPersonBuilder
from data_builders.features import encode_instance_mask, make_example, multiperson_features
from data_builders.mpii_multiperson import annotations
from data_builders.mpii_multiperson import mpii_multiperson_dataset_builder as mpii
from data_builders.mpii_multiperson.annotations import ImageAnnotation
from ltsh_jax.data.schema import NO_GROUP

PNG_COMPRESS_LEVEL = 1  # fast; lossless either way


@dataclasses.dataclass
class LtshMixedConfig(tfds.core.BuilderConfig):
    """num_renders: examples per photo; max_images: first N training photos (None = all); lighting: "sh" (the
    generator's spherical harmonics, as D_S reference) or "directional" (the earlier look); clothing: "rich" (as D_S
    reference) or "basic" (the earlier look); motion_blur: "vector" (the synthetic humans blurred as D_S reference,
    ltsh_jax.synth.motion_blur; never the photo) or "none"; blur_strength: (mean, std) of the per-image blur factor,
    both >= 0; the rest as in D_R."""

    num_renders: int = 5
    max_images: int | None = None
    seed: int = 0
    lam: float = 4.0
    num_validation_groups: int = mpii.PAPER_VALIDATION_GROUPS
    split_seed: int = 0
    lighting: str = "sh"
    clothing: str = "rich"
    motion_blur: str = "vector"
    blur_strength: tuple[float, float] = (0.03, 0.03)


def encode_png(image: np.ndarray) -> bytes:
    """uint8 RGB -> PNG bytes (deterministic)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def training_images(manual_dir: pathlib.Path, config: LtshMixedConfig, report) -> tuple[list[ImageAnnotation], dict]:
    """The D_R training images (validation groups left out, bad input reported), and the folders to read."""
    images_dir = manual_dir / mpii.IMAGES_DIR if (manual_dir / mpii.IMAGES_DIR).is_dir() else manual_dir
    masks_dir = mpii.MaskFolders.of(manual_dir)
    _, images = mpii._load_annotations(manual_dir, report)
    images = mpii.usable_images(images, images_dir, masks_dir, report)
    groups = [im.group_id for im in images if im.group_id is not None]
    chosen, _ = annotations.draw_validation_groups(groups, config.num_validation_groups, config.split_seed)
    train = [im for im in images if im.group_id not in set(chosen)]
    if config.max_images is not None:
        train = train[: config.max_images]
    return train, {"images_dir": images_dir, "masks_dir": masks_dir}


def images_to_render(manual_dir: pathlib.Path, config: LtshMixedConfig, report, dataset: str) -> tuple[list, dict]:
    """`training_images`, after checking num_renders; ValueError naming `dataset` when no image is left."""
    if config.num_renders < 1:
        raise ValueError(f"{dataset}/{config.name}: num_renders must be >= 1")
    images, folders = training_images(manual_dir, config, report)
    if not images:
        raise ValueError(f"{manual_dir}: no training image left to write\n{report.summary()}")
    return images, folders


def make_mixer(config: LtshMixedConfig):
    """The Mixer of a config (one renderer, i.e. one GL context: release it after use)."""
    from ltsh_jax.synth.mixed import MixConfig, Mixer  # noqa: PLC0415  (needs moderngl)

    return Mixer(
        MixConfig(
            lam=config.lam,
            lighting=config.lighting,
            clothing=config.clothing,
            motion_blur=config.motion_blur,
            blur_strength=tuple(config.blur_strength),
        )
    )


def read_photo(path: pathlib.Path) -> np.ndarray:
    """The photo as uint8 RGB."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def mixed_example(mixer, image: ImageAnnotation, photo: np.ndarray, folders: dict, seed: int, render: int):
    """(key, example of the shared schema, MixedImage) of render `render` of `image`."""
    people = image.people
    real_kp = np.stack([p.keypoints for p in people])
    result = mixer.mix(
        photo,
        real_kp,
        np.stack([p.objpos for p in people]),
        np.array([p.scale for p in people]),
        seed=np.random.SeedSequence([seed, image.index, render]),
    )
    labels, num_real = result.labels, len(people)
    num_synthetic = labels.keypoints.shape[0]
    instance = np.where(result.frame.instance > 0, result.frame.instance + num_real, 0)
    mask = mpii._mask_path(folders["masks_dir"], image)
    key = f"{image.name}/{render}"
    example = make_example(
        image=encode_png(result.frame.color),
        filename=image.name,
        height=photo.shape[0],
        width=photo.shape[1],
        keypoints=np.concatenate([real_kp, labels.keypoints]),
        head_box=np.concatenate([np.stack([p.head_box for p in people]), labels.head_box]),
        objpos=np.concatenate([np.stack([p.objpos for p in people]), labels.objpos]),
        scale=np.concatenate([[p.scale for p in people], labels.scale]),
        is_synthetic=np.concatenate([np.zeros(num_real, bool), np.ones(num_synthetic, bool)]),
        group_id=np.concatenate(
            [[image.index if p.in_group else NO_GROUP for p in people], np.full(num_synthetic, NO_GROUP)]
        ),
        unannotated_mask=b"" if mask is None else mpii._read_mask(mask, image.width, image.height),
        instance_mask=encode_instance_mask(instance),
        covered_by_synthetic=np.concatenate([result.covered, np.zeros((num_synthetic, result.covered.shape[1]), bool)]),
    )
    return key, example, result


class Builder(MultiPersonBuilder):
    """D_M from the MPII manual download; configs paper (5 renders per photo) and tiny (8 photos x 1)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        LtshMixedConfig(name="paper", description="Section 3.3: every D_R training photo x 5 renders, Poisson(4)."),
        LtshMixedConfig(name="tiny", description="The first 8 training photos x 1 render (tests, demo).",
                        num_renders=1, max_images=8),
    ]  # fmt: skip
    MANUAL_DOWNLOAD_INSTRUCTIONS = mpii.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=multiperson_features(), homepage="https://ltsh.is.tue.mpg.de", metadata=tfds.core.MetadataDict()
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict:
        images, folders = images_to_render(pathlib.Path(dl_manager.manual_dir), self.builder_config, self.report,
                                           "ltsh_mixed")  # fmt: skip
        self._stats = {"attempts": 0, "rejected_overlap": 0, "rejected_view": 0, "dropped": 0, "covered_joints": 0}
        return {"train": self._generate_examples(images, folders)}

    def _generate_examples(self, images: list[ImageAnnotation], folders: dict) -> Iterator[tuple[str, dict]]:
        mixer = make_mixer(self.builder_config)
        try:
            for image in images:
                photo = read_photo(mpii.image_path(folders["images_dir"], image))
                for render in range(self.builder_config.num_renders):
                    key, example, result = mixed_example(mixer, image, photo, folders, self.builder_config.seed, render)
                    for name in ("attempts", "rejected_overlap", "rejected_view", "dropped"):
                        self._stats[name] += getattr(result.placement, name)
                    self._stats["covered_joints"] += int(result.covered.sum())
                    yield key, example
        finally:
            mixer.release()

    def _download_and_prepare(self, dl_manager, download_config) -> None:
        result = super()._download_and_prepare(dl_manager, download_config)
        self.info.metadata["placement"] = dict(self._stats)
        return result
