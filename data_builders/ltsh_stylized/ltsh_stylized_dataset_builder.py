"""ltsh_stylized: D_Style (paper section 3.4): D_M with its synthetic humans restyled toward the photo's real people.

Every example is the ltsh_mixed example of the same config fields (same seeds, so the same people and
labels; see data_builders.ltsh_mixed), whose image is then stylized (ltsh_jax.synth.stylize): content =
the D_M image, content region = its synthetic humans (render instance mask); style = the MPII photo (the
D_M background), style region = its real people, from `masks_dir` (one PNG per image, e.g. the masks the
paper's authors released; ltsh_jax.synth.segmenter.FolderSegmenter) or, by default, drawn from the
annotated keypoints (KeypointSegmenter). Larger side scaled to 600 px for the transfer; pixels outside the
synthetic humans are the D_M pixels, unchanged. Labels are D_M's. An example whose synthetic or real
region is too small for colour statistics is bad input: it stops the build, or with on_bad_input="skip"
it is skipped and counted ("degenerate_region"); so is an image whose user-supplied mask is missing or
of another size ("bad_person_mask").
The transfer runs in pixel space by default. With `vgg_weights` (a PhotoWCT encoder/decoder .npz, layout
and conversion in ltsh_jax.synth.vgg_features; a relative name is looked up in manual_dir, then in the
working directory) it runs in VGG feature space: `vgg_level` deep, the coarse-to-fine cascade unless
`vgg_cascade` is False. The weights are checked before any example is made. Config paper_vgg reads
manual_dir/photo_wct.npz.
Build: `python -m data_builders.build ltsh_stylized --data_dir=DATA --manual_dir=MPII`.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from data_builders.base import MultiPersonBuilder
from data_builders.features import multiperson_features
from data_builders.ltsh_mixed.ltsh_mixed_dataset_builder import (
    LtshMixedConfig,
    encode_png,
    images_to_render,
    make_mixer,
    mixed_example,
    read_photo,
)
from data_builders.mpii_multiperson import mpii_multiperson_dataset_builder as mpii
from data_builders.mpii_multiperson.annotations import ImageAnnotation


@dataclasses.dataclass
class LtshStylizedConfig(LtshMixedConfig):
    """The D_M fields, plus masks_dir (real-people masks; None = from keypoints), the transfer size, and the
    VGG feature space: vgg_weights (None = pixel space), vgg_level (1..4), vgg_cascade (levels vgg_level..1)."""

    masks_dir: str | None = None
    max_side: int = 600
    vgg_weights: str | None = None
    vgg_level: int = 4
    vgg_cascade: bool = True


def resolve_vgg_weights(name: str, manual_dir: pathlib.Path | None) -> pathlib.Path:
    """The weights file `name`: an absolute (or ~) path as given, a relative one in manual_dir, else the working
    directory. Raises FileNotFoundError naming every place looked at."""
    path = pathlib.Path(name).expanduser()
    tried = [path] if path.is_absolute() or manual_dir is None else [pathlib.Path(manual_dir) / path, path]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"ltsh_stylized: VGG weights file '{name}' (config field vgg_weights) not found; looked at "
        + ", ".join(str(c) for c in tried)
        + ". Convert the PhotoWCT weights as ltsh_jax/synth/vgg_features.py describes, or set vgg_weights=None"
    )


class Builder(MultiPersonBuilder):
    """D_Style from the MPII manual download; configs paper and tiny, as ltsh_mixed."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        LtshStylizedConfig(name="paper", description="Section 3.4: D_M (paper) stylized at 600 px."),
        LtshStylizedConfig(name="tiny", description="D_M tiny (8 photos x 1 render) stylized.",
                           num_renders=1, max_images=8),
        LtshStylizedConfig(name="paper_vgg", description="Section 3.4 in PhotoWCT's VGG features "
                           "(manual_dir/photo_wct.npz, see ltsh_jax.synth.vgg_features).",
                           vgg_weights="photo_wct.npz"),
    ]  # fmt: skip
    MANUAL_DOWNLOAD_INSTRUCTIONS = mpii.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=multiperson_features(), homepage="https://ltsh.is.tue.mpg.de", metadata=tfds.core.MetadataDict()
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict:
        config = self.builder_config
        images, folders = images_to_render(pathlib.Path(dl_manager.manual_dir), config, self.report, "ltsh_stylized")
        space = None
        if config.vgg_weights is not None:  # checked before any example is made
            from ltsh_jax.synth.vgg_features import VggFeatureSpace  # noqa: PLC0415

            path = resolve_vgg_weights(config.vgg_weights, pathlib.Path(dl_manager.manual_dir))
            space = VggFeatureSpace.from_file(path, level=config.vgg_level, cascade=config.vgg_cascade)
        return {"train": self._generate_examples(images, folders, space)}

    def _generate_examples(
        self, images: list[ImageAnnotation], folders: dict, space=None
    ) -> Iterator[tuple[str, dict]]:
        """D_Style examples; `space` is the transfer's feature space (None = pixels)."""
        from ltsh_jax.synth import segmenter, stylize  # noqa: PLC0415

        config = self.builder_config
        segment = (segmenter.KeypointSegmenter() if config.masks_dir is None
                   else segmenter.FolderSegmenter(pathlib.Path(config.masks_dir)))  # fmt: skip
        style_config = stylize.StylizeConfig(max_side=config.max_side)
        mixer = make_mixer(config)
        try:
            for image in images:
                photo = read_photo(mpii.image_path(folders["images_dir"], image))
                real_kp = np.stack([p.keypoints for p in image.people])
                if config.masks_dir is None:
                    real = segment(image.name, photo.shape[:2], real_kp, np.array([p.scale for p in image.people]))
                else:
                    try:
                        real = segment(image.name, photo.shape[:2], real_kp)
                    except (FileNotFoundError, ValueError) as e:
                        self.report.problem("bad_person_mask", f"{e}; skipping image {image.name}")
                        continue
                for render in range(config.num_renders):
                    key, example, result = mixed_example(mixer, image, photo, folders, config.seed, render)
                    try:
                        frame = result.frame
                        styled = stylize.stylize(frame.color, frame.instance > 0, photo, real, style_config, space)
                    except stylize.DegenerateRegionError as e:
                        self.report.problem("degenerate_region", f"{key}: {e}; skipping the example")
                        continue
                    example["image"] = encode_png(styled)
                    yield key, example
        finally:
            mixer.release()
