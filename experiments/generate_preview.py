"""A contact sheet of generated D_S images with their labelled skeletons drawn, for a person to look at.

    python -m experiments.generate_preview --output=docs/ltsh_synthetic_preview.png --num_images=8

The images are the first --num_images of the `train` split of `ltsh_synthetic` with --seed (the same
per-example seeds as the builder, so --seed=0 shows the first images of every config), generated here
directly: nothing needs to be built. Joints drawn: every labelled one (visible and occluded); with
--visible_only, visible ones only.

With --compare_output and --distributions_output it also writes (what docs/ and README.md show):

    python -m experiments.generate_preview --output=docs/ltsh_synthetic_preview.png \
        --compare_output=docs/ltsh_synthetic_reference_vs_old.png \
        --distributions_output=docs/ltsh_synthetic_distributions.png --stats_images=48

a sheet of the `reference` config's first images (no labels drawn) beside the old look (the `small` config, whose
settings were the default before the scenes issue), and histograms of what defines the data (person height in
pixels, people per image, camera pitch, each person's visible-joint ratio) over the first --stats_images train
images of `reference`, `paper` and `small`, generated with the builder's own configs and seeds.
"""

from __future__ import annotations

import pathlib

import numpy as np
from absl import app, flags
from PIL import Image

from data_builders.ltsh_synthetic.ltsh_synthetic_dataset_builder import Builder, example_seed, make_synthesizer
from ltsh_jax import visualize
from ltsh_jax.data.schema import VISIBLE
from ltsh_jax.skeleton import CMU_MPI, from_mpii16
from ltsh_jax.synth.generate import Synthesizer
from ltsh_jax.synth.scene import SceneConfig

_OUTPUT = flags.DEFINE_string("output", "ltsh_synthetic_preview.png", "Where the PNG contact sheet goes ('': none).")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 8, "How many images.")
_SEED = flags.DEFINE_integer("seed", 0, "Dataset seed (the builder config's `seed`).")
_LAM = flags.DEFINE_float("lam", 9.0, "Poisson mean of humans per image.")
_COLUMNS = flags.DEFINE_integer("columns", 4, "Images per row.")
_CELL = flags.DEFINE_integer("cell", 320, "Side of each image on the sheet, pixels.")
_VISIBLE_ONLY = flags.DEFINE_bool("visible_only", False, "Draw visible joints only.")
_COMPARE_OUTPUT = flags.DEFINE_string("compare_output", None, "Also write `reference` beside the old look here.")
_DISTRIBUTIONS_OUTPUT = flags.DEFINE_string("distributions_output", None, "Also write the distributions plot here.")
_STATS_IMAGES = flags.DEFINE_integer("stats_images", 48, "Images per config for the distributions plot.")
OLD_LOOK = "small"  # the settings every config had before the scenes issue (tiny and small still do)
COMPARED = ("reference", "paper", OLD_LOOK)


def draw_labels(image: np.ndarray, keypoints: np.ndarray, visible_only: bool = False) -> np.ndarray:
    """The image with the people's labelled MPII-16 keypoints [P, 16, 3] drawn as CMU-MPI skeletons."""
    shown = keypoints[..., 2] >= (VISIBLE if visible_only else 1)
    parts, labelled = from_mpii16(CMU_MPI, keypoints[..., :2], shown)
    return visualize.draw_people(image, parts, labelled.astype(np.float32), CMU_MPI, min_score=0.5)


def builder_config(name: str):
    """The ltsh_synthetic builder config called `name`."""
    return {c.name: c for c in Builder.BUILDER_CONFIGS}[name]


def config_samples(name: str, count: int, seed: int = 0) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Statistics of a config's first `count` train images (the builder's synthesizer and seeds): per person the
    height in pixels and the visible-joint ratio, per image the number of people and the camera pitch; and the
    first 8 images."""
    synthesizer = make_synthesizer(builder_config(name))
    heights, ratios, people, pitches, images = [], [], [], [], []
    try:
        for index in range(count):
            result = synthesizer.generate(example_seed(seed, "train", index))
            labels = result.labels
            heights.append(labels.scale * 200.0)  # scale = projected standing height / 200 px
            ratios.append((labels.keypoints[..., 2] == VISIBLE).mean(axis=-1))
            people.append(labels.keypoints.shape[0])
            pitches.append(result.camera.pitch)
            if index < 8:
                images.append(result.frame.color)
    finally:
        synthesizer.renderer.release()
    stats = {"height_px": np.concatenate(heights), "people": np.asarray(people), "pitch": np.asarray(pitches),
             "visible_ratio": np.concatenate(ratios)}  # fmt: skip
    return stats, images


PANELS = (
    ("height_px", "person height (px, projected standing height)", np.linspace(0, 700, 36)),
    ("people", "people per image", np.arange(-0.5, 31.5, 1.0)),
    ("pitch", "camera pitch (degrees)", np.linspace(0, 45, 19)),
    ("visible_ratio", "visible joints / 16, per person", np.linspace(0, 1, 17) + 1e-9),
)


def plot_distributions(stats: dict[str, dict[str, np.ndarray]], path: pathlib.Path, count: int) -> None:
    """Histograms (fractions) of each quantity of PANELS, one line per config, side by side."""
    from ltsh_jax.plots import pyplot, save_png  # noqa: PLC0415  (matplotlib only when plotting)

    plt = pyplot()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4))
    for ax, (key, title, bins) in zip(axes, PANELS, strict=True):
        for name, values in stats.items():
            data = values[key]
            weights = np.full(len(data), 1.0 / max(len(data), 1))
            ax.hist(data, bins=bins, weights=weights, histtype="step", linewidth=1.8,
                    label=f"{name} (median {np.median(data):.3g})")  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("fraction")
        ax.legend(fontsize=8)
    fig.suptitle(f"ltsh_synthetic: the first {count} train images of each config", fontsize=11)
    save_png(fig, path)


def compare_sheet(old: list[np.ndarray], new: list[np.ndarray], cell: int, columns: int = 4) -> np.ndarray:
    """Rows of the old look above rows of `reference`, each block captioned."""
    blocks = []
    for caption, images in (
        (f"old look ({OLD_LOOK}: uniform ranges, flat background, directional light)", old),
        ("reference (the generator's stage, procedural place, SH light, rich clothing)", new),
    ):
        sheet = visualize.contact_sheet(images[:columns], columns=columns, cell=cell)
        blocks.append(visualize.side_by_side([(caption, sheet)]))
    return np.concatenate([blocks[0], np.full((6, blocks[0].shape[1], 3), 255, np.uint8), blocks[1]])


def write_comparisons(compare: str | None, distributions: str | None, count: int, cell: int) -> None:
    """The `reference`-beside-old sheet and the distributions plot, as asked."""
    stats, images = {}, {}
    names = COMPARED if distributions else ("reference", OLD_LOOK)
    for name in names:
        stats[name], images[name] = config_samples(name, count if distributions else 4)
        print(f"{name}: {len(stats[name]['people'])} images, {len(stats[name]['height_px'])} people, "
              f"median height {np.median(stats[name]['height_px']):.0f} px")  # fmt: skip
    if compare:
        path = pathlib.Path(compare)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(compare_sheet(images[OLD_LOOK], images["reference"], cell)).save(path)
        print(f"wrote {path}")
    if distributions:
        plot_distributions(stats, pathlib.Path(distributions), count)
        print(f"wrote {distributions}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _OUTPUT.value:  # empty: only the comparisons
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
    if _COMPARE_OUTPUT.value or _DISTRIBUTIONS_OUTPUT.value:
        write_comparisons(_COMPARE_OUTPUT.value, _DISTRIBUTIONS_OUTPUT.value, _STATS_IMAGES.value, _CELL.value)


def run() -> None:
    """`ltsh-preview`, the same as `python -m experiments.generate_preview`."""
    app.run(main)


if __name__ == "__main__":
    run()
