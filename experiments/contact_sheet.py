"""Contact sheets of D_M and D_Style for a person to look at: photo, D_M render, D_Style result, masks.

One row per (photo, render): the MPII photo with its annotated people drawn; the D_M composite (same
resolution, synthetic humans rendered over it) with the synthetic people's skeletons; the D_Style image
(the synthetic humans restyled toward the real people); the two transfer regions (red: synthetic humans,
the content region; blue: real people, the style region). Generated on the fly with exactly the builders'
code and seeds (data_builders.ltsh_mixed / ltsh_stylized), so the rows show what a build would write.

  python -m experiments.contact_sheet --manual_dir=../shared/data/real_samples/mpii --output=sheet.png \
      [--renders=2] [--max_images=5] [--people=anny|stick]

--people=stick uses the test stick figures (ltsh_jax/synth/stick_people.py) where the Anny body model is not installed.
"""

from __future__ import annotations

import pathlib

import numpy as np
from absl import app, flags
from PIL import Image

from data_builders.ltsh_mixed.ltsh_mixed_dataset_builder import (
    LtshMixedConfig,
    mixed_example,
    read_photo,
    training_images,
)
from data_builders.mpii_multiperson import mpii_multiperson_dataset_builder as mpii
from ltsh_jax.data import sources
from ltsh_jax.data.bad_input import BadInputReport
from ltsh_jax.skeleton import CMU_MPI, from_mpii16
from ltsh_jax.synth import mixed, stylize
from ltsh_jax.synth.segmenter import KeypointSegmenter
from ltsh_jax.visualize import contact_sheet, draw_people

FLAGS = flags.FLAGS
flags.DEFINE_string("manual_dir", None, "MPII folder (as for data_builders.mpii_multiperson)", required=True)
flags.DEFINE_string("output", "contact_sheet.png", "where the PNG goes")
flags.DEFINE_integer("renders", 2, "D_M renders per photo")
flags.DEFINE_integer("max_images", 5, "photos")
flags.DEFINE_integer("seed", 0, "dataset seed (as LtshMixedConfig.seed)")
flags.DEFINE_integer("cell", 360, "tile size in pixels")
flags.DEFINE_enum("people", "anny", ["anny", "stick"], "synthetic bodies: the Anny body model, or test stick figures")


def skeletons(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """People (MPII-16 keypoints [P, 16, 3]) drawn on a copy of the image."""
    if not len(keypoints):
        return image
    converted, labelled = from_mpii16(CMU_MPI, keypoints[..., :2], keypoints[..., 2] > 0)
    return draw_people(image, converted, labelled.astype(np.float32), CMU_MPI, min_score=0.5)


def regions(shape: tuple[int, int], synthetic: np.ndarray, real: np.ndarray) -> np.ndarray:
    """An RGB picture of the two transfer regions."""
    out = np.zeros((*shape, 3), np.uint8)
    out[real] = (60, 90, 255)
    out[synthetic] = (255, 60, 60)
    return out


def rows(manual_dir: pathlib.Path, renders: int, max_images: int, seed: int, people) -> list[np.ndarray]:
    """The tiles, row by row."""
    config = LtshMixedConfig(name="sheet", num_renders=renders, max_images=max_images, seed=seed)
    images, folders = training_images(manual_dir, config, BadInputReport("skip"))
    mixer = mixed.Mixer(
        mixed.MixConfig(
            lam=config.lam,
            lighting=config.lighting,
            clothing=config.clothing,
            motion_blur=config.motion_blur,
            blur_strength=tuple(config.blur_strength),
        ),
        people=people,
    )
    segment = KeypointSegmenter()
    tiles = []
    try:
        for image in images:
            photo = read_photo(mpii.image_path(folders["images_dir"], image))
            real_kp = np.stack([p.keypoints for p in image.people])
            real = segment(image.name, photo.shape[:2], real_kp, np.array([p.scale for p in image.people]))
            for render in range(renders):
                _, example, result = mixed_example(mixer, image, photo, folders, seed, render)
                synthetic = result.frame.instance > 0
                styled = stylize.stylize(result.frame.color, synthetic, photo, real)
                decoded = sources.decode_example(example)
                drawn = np.concatenate([decoded.keypoints, decoded.visibility[..., None]], -1)
                tiles += [
                    skeletons(photo, real_kp),
                    skeletons(result.frame.color, drawn[decoded.is_synthetic]),
                    styled,
                    regions(photo.shape[:2], synthetic, real),
                ]
    finally:
        mixer.release()
    return tiles


def main(argv: list[str]) -> None:
    """Writes the contact sheet."""
    del argv
    people = None
    if FLAGS.people == "stick":
        from ltsh_jax.synth.stick_people import StickPeople  # noqa: PLC0415

        people = StickPeople()
    tiles = rows(pathlib.Path(FLAGS.manual_dir), FLAGS.renders, FLAGS.max_images, FLAGS.seed, people)
    Image.fromarray(contact_sheet(tiles, columns=4, cell=FLAGS.cell)).save(FLAGS.output)
    print(f"wrote {FLAGS.output}: {len(tiles) // 4} rows (photo | D_M | D_Style | regions)")


def run() -> None:
    """`ltsh-contact-sheet`, the same as `python -m experiments.contact_sheet`."""
    app.run(main)


if __name__ == "__main__":
    run()
