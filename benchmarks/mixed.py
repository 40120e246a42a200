"""Speed of D_Style stylization at 600 px (and of D_M renders, when the mixed-dataset builder is present).

D_Style, per example (the paper's setting: larger side scaled to 600 px): the content is a real MPII
photo (../shared/data/real_samples/mpii, 1280x720 and 854x480) with a flat-textured "synthetic human"
painted where the annotated person's keypoint mask would be, shifted sideways; the style region is the
real person's keypoint mask. Variants, timed in interleaved rounds over all photos after one warm-up
round that compiles (compile time printed apart):
  full        stylize(): resize, WCT, matting-Laplacian smoothing (CG, on a window around the synthetic
              humans), back to full resolution.
  whole-image-smoothing   the same with the smoothing solved on the whole 600 px image.
  no-smooth   the same without the smoothing step (what the smoothing costs is the difference).
  masks       KeypointSegmenter for the real people of the photo (the default segmenter).
  vgg-level4, vgg-cascade   `full` with the WCT in the features of PhotoWCT's VGG-19 encoder/decoder
              (ltsh_jax.synth.vgg_features) at relu4_1 only, or the paper's cascade relu4_1 .. relu1_1;
              random weights (seeded) of the real widths 64, 128, 256, 512: the cost does not depend on
              the values. `--vgg off|level4|cascade|both` picks them (default both; on 2 CPU cores they
              take 8-30 s a call, so `--vgg off` for a quick run).
Figure to reach: full < 2 s per example on the build machine (2 shared CPU cores).

D_M, seconds per render: ltsh_jax.synth.mixed.Mixer.mix over the same photos at their own resolution
(Poisson(4) people: posing, placement, the moderngl frame, labels), alone and with the PNG encoding of
the example. People: `--mixed anny` (the full sampler), `--mixed anny-rest` (Anny meshes in the rest
pose with flat colours, where the pose and appearance samplers are not installed), `--mixed stick`
(the test stick people). Figure: >= 3 renders per second.

Run from the repository root:
  python -m benchmarks.mixed [--repeats 5] [--mixed anny|anny-rest|stick] [--vgg both] [--output out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import statistics
import time

import numpy as np
from PIL import Image

from ltsh_jax.synth import stylize
from ltsh_jax.synth.segmenter import KeypointSegmenter

MPII = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "real_samples" / "mpii"


def load_samples(folder: pathlib.Path) -> list[dict]:
    """Per photo: the photo, its real-person mask, a content image with a painted 'synthetic human' and its mask."""
    records = json.loads((folder / "test_mpii.json").read_text())
    rng = np.random.default_rng(0)
    segment = KeypointSegmenter()
    samples = []
    for record in records:
        photo = np.asarray(Image.open(folder / record["image"]).convert("RGB"))
        vis = np.array(record["joints_vis"], float)
        keypoints = np.concatenate([np.array(record["joints"], float), 2 * vis[:, None]], 1)[None]
        scale = np.array([record["scale"]])
        real = segment(record["image"], photo.shape[:2], keypoints, scale)
        shifted = keypoints.copy()
        shifted[..., 0] += 0.35 * photo.shape[1] * (1 if keypoints[0, :, 0].mean() < photo.shape[1] / 2 else -1)
        synthetic = segment("synthetic", photo.shape[:2], shifted, scale) & ~real
        texture = np.array([30.0, 180.0, 40.0]) + rng.uniform(-20, 20, photo.shape)
        content = photo.copy()
        content[synthetic] = np.clip(texture[synthetic], 0, 255).astype(np.uint8)
        samples.append(
            {
                "name": record["image"],
                "photo": photo,
                "real": real,
                "content": content,
                "synthetic": synthetic,
                "keypoints": keypoints,
                "scale": scale,
                "objpos": np.array([record["center"]], float) - 1.0,
            }
        )
    return samples


def variants(config: stylize.StylizeConfig) -> dict:
    """name -> function of one sample, timed per call."""
    plain = dataclasses.replace(config, smooth=False)
    whole = dataclasses.replace(config, smooth_margin=None)
    segment = KeypointSegmenter()
    return {
        "full": lambda s: stylize.stylize(s["content"], s["synthetic"], s["photo"], s["real"], config),
        "whole-image-smoothing": lambda s: stylize.stylize(s["content"], s["synthetic"], s["photo"], s["real"], whole),
        "no-smooth": lambda s: stylize.stylize(s["content"], s["synthetic"], s["photo"], s["real"], plain),
        "masks": lambda s: segment(s["name"], s["photo"].shape[:2], s["keypoints"], s["scale"]),
    }


def vgg_variants(config: stylize.StylizeConfig, which: str) -> dict:
    """`full` in VGG feature space (random weights of the real widths): relu4_1 alone and/or the 4-level cascade."""
    from ltsh_jax.synth import vgg_features  # noqa: PLC0415

    space = vgg_features.VggFeatureSpace
    params = vgg_features.nest(vgg_features.random_weights(space.shapes(4, cascade=True), seed=0))
    spaces = {"vgg-level4": space(params, level=4, cascade=False), "vgg-cascade": space(params, level=4, cascade=True)}
    chosen = {"level4": ["vgg-level4"], "cascade": ["vgg-cascade"], "both": list(spaces), "off": []}[which]
    return {
        name: (lambda s, sp=spaces[name]: stylize.stylize(s["content"], s["synthetic"], s["photo"], s["real"], config,
                                                          feature_space=sp))
        for name in chosen
    }  # fmt: skip


class RestAnnyPeople:
    """Anny bodies (random shapes, batched JAX forward) in the rest pose with flat random colours.

    For timing D_M renders with the real meshes (13,718 vertices each) where the pose and appearance
    samplers are not installed; posing cost is the same forward with other rotations.
    """

    def __init__(self):
        from ltsh_jax.synth import body_model  # noqa: PLC0415

        self.body_model = body_model
        self.model = body_model.load_body_model()
        self.faces = np.asarray(self.model.faces, np.int32)

    def __call__(self, rng: np.random.Generator, count: int):
        """(vertices [N, V, 3], joints [N, 16, 3], colours) in the body frame."""
        bm = self.body_model
        padded = -(-count // 8) * 8  # few batch shapes, as ltsh_jax.synth.generate does
        shapes = rng.uniform(bm.SHAPE_LOW, bm.SHAPE_HIGH, (padded, bm.NUM_SHAPE)).astype(np.float32)
        rotations = np.zeros((padded, self.model.num_bones, 3), np.float32)
        posed = bm.pose_bodies(self.model, shapes, rotations)
        vertices, joints = np.asarray(posed.vertices)[:count], np.asarray(posed.joints)[:count]
        colors = [np.broadcast_to(rng.uniform(0.2, 1.0, 3), v.shape).copy() for v in vertices]
        return vertices, joints, colors


def mixed_variant(people: str) -> dict:
    """D_M: one render (ltsh_jax.synth.mixed.Mixer.mix) over the photo, and the same plus the example's PNG encoding."""
    from data_builders.ltsh_mixed.ltsh_mixed_dataset_builder import encode_png  # noqa: PLC0415
    from ltsh_jax.synth.mixed import Mixer  # noqa: PLC0415  (needs moderngl)

    if people == "stick":  # test doubles: tubes around the bones, no body model needed
        from ltsh_jax.synth.stick_people import StickPeople  # noqa: PLC0415

        mixer = Mixer(people=StickPeople())
    elif people == "anny-rest":
        mixer = Mixer(people=RestAnnyPeople())
    else:
        mixer = Mixer()
    seeds = iter(range(10**9))

    def render(sample: dict):
        real = sample["keypoints"]
        return mixer.mix(sample["photo"], real, sample["objpos"], sample["scale"], seed=next(seeds))

    return {"dm-render": render, "dm-render+png": lambda s: encode_png(render(s).frame.color)}


def run(repeats: int, mixed_people: str | None, folder: pathlib.Path, vgg: str = "both") -> dict:
    """Medians (s per example) of every variant, timed in interleaved rounds."""
    samples = load_samples(folder)
    config = stylize.StylizeConfig()
    functions = variants(config)
    functions.update(vgg_variants(config, vgg))
    if mixed_people:
        functions.update(mixed_variant(mixed_people))
    compile_s = {}
    for name, fn in functions.items():  # warm-up: compiles every shape once
        start = time.perf_counter()
        for sample in samples:
            fn(sample)
        compile_s[name] = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for sample in samples:
            for name, fn in functions.items():
                start = time.perf_counter()
                fn(sample)
                times[name].append(time.perf_counter() - start)
    result = {
        "median_s": {name: statistics.median(t) for name, t in times.items()},
        "warmup_round_s": compile_s,
        "calls": {name: len(t) for name, t in times.items()},
        "sizes": sorted({f"{s['photo'].shape[1]}x{s['photo'].shape[0]}" for s in samples}),
    }
    median = result["median_s"]
    result["smoothing_share"] = 1.0 - median["no-smooth"] / median["full"]
    result["whole_over_window"] = median["whole-image-smoothing"] / median["full"]
    for name in ("vgg-level4", "vgg-cascade"):
        if name in median:
            result[f"{name}_over_pixel"] = median[name] / median["full"]
    if "dm-render" in median:
        result["dm_renders_per_s"] = 1.0 / median["dm-render"]
    return result


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mixed", choices=("anny", "anny-rest", "stick"), help="also time D_M renders, these people")
    parser.add_argument(
        "--vgg",
        choices=("off", "level4", "cascade", "both"),
        default="off",
        help="also time the transfer in VGG feature space (random weights, real widths; both: 10-20 min on 2 cores)",
    )
    parser.add_argument("--samples", type=pathlib.Path, default=MPII)
    parser.add_argument("--output", type=pathlib.Path)
    args = parser.parse_args()
    result = run(args.repeats, args.mixed, args.samples, args.vgg)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
