"""A contact sheet of generated D_S images with their labelled skeletons drawn, for a person to look at.

    python -m experiments.generate_preview --output=docs/ltsh_synthetic_preview.png --num_images=8

The images are the first --num_images of the `train` split of `ltsh_synthetic` with --seed (the same
per-example seeds as the builder, so --seed=0 shows the first images of every config), generated here
directly: nothing needs to be built. Joints drawn: every labelled one (visible and occluded); with
--visible_only, visible ones only.
"""

from __future__ import annotations

import pathlib

import numpy as np
from absl import app, flags
from PIL import Image

from data_builders.ltsh_synthetic.ltsh_synthetic_dataset_builder import example_seed
from ltsh_jax import visualize
from ltsh_jax.data.schema import VISIBLE
from ltsh_jax.skeleton import CMU_MPI, from_mpii16
from ltsh_jax.synth.generate import Synthesizer
from ltsh_jax.synth.scene import SceneConfig

_OUTPUT = flags.DEFINE_string("output", "ltsh_synthetic_preview.png", "Where the PNG contact sheet goes.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 8, "How many images.")
_SEED = flags.DEFINE_integer("seed", 0, "Dataset seed (the builder config's `seed`).")
_LAM = flags.DEFINE_float("lam", 9.0, "Poisson mean of humans per image.")
_COLUMNS = flags.DEFINE_integer("columns", 4, "Images per row.")
_CELL = flags.DEFINE_integer("cell", 320, "Side of each image on the sheet, pixels.")
_VISIBLE_ONLY = flags.DEFINE_bool("visible_only", False, "Draw visible joints only.")


def draw_labels(image: np.ndarray, keypoints: np.ndarray, visible_only: bool = False) -> np.ndarray:
    """The image with the people's labelled MPII-16 keypoints [P, 16, 3] drawn as CMU-MPI skeletons."""
    shown = keypoints[..., 2] >= (VISIBLE if visible_only else 1)
    parts, labelled = from_mpii16(CMU_MPI, keypoints[..., :2], shown)
    return visualize.draw_people(image, parts, labelled.astype(np.float32), CMU_MPI, min_score=0.5)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    synthesizer = Synthesizer(SceneConfig(lam=_LAM.value))
    tiles = []
    for index in range(_NUM_IMAGES.value):
        result = synthesizer.generate(example_seed(_SEED.value, "train", index))
        tiles.append(draw_labels(result.frame.color, result.labels.keypoints, _VISIBLE_ONLY.value))
        people = result.labels.keypoints.shape[0]
        print(f"image {index}: {people} humans, pitch {result.camera.pitch:.1f} deg, "
              f"{(result.labels.keypoints[..., 2] == VISIBLE).sum()} visible joints")  # fmt: skip
    synthesizer.renderer.release()
    sheet = visualize.contact_sheet(tiles, columns=_COLUMNS.value, cell=_CELL.value)
    output = pathlib.Path(_OUTPUT.value)
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(output)
    print(f"wrote {output} ({sheet.shape[1]}x{sheet.shape[0]})")


def run() -> None:
    """`ltsh-preview`, the same as `python -m experiments.generate_preview`."""
    app.run(main)


if __name__ == "__main__":
    run()
