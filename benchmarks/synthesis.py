"""Speed of D_S synthesis: images per second at 640x640 with Poisson(9) humans, labels and encoding included.

What it measures, per image (after --warmup images that compile the body model's batch shapes):
  posing      Poisson count, shapes, poses, appearances, the JAX body model (posed and rest meshes)
  placing     camera, placement of each human without penetration (capsule tests)
  rendering   procedural background, lighting, moderngl/EGL frame (colour, instance ids, depth)
  blurring    motion blur per person (ltsh_jax.synth.motion_blur; configs with motion_blur "vector", e.g.
              reference and paper; 0 for the others)
  labelling   keypoints with visibility from the buffers, head boxes, objpos, scale
  encoding    JPEG image, 16-bit PNG instance mask, the example dict (min distances)
Reported: the median of each stage and of the whole (wall time), images/s = 1 / median whole, the run's
own throughput (images / wall time), the median process CPU time per image and the load average: on a
shared machine wall times grow with the load of others, CPU time much less (it sums the threads of
llvmpipe and XLA, though). The target is >= 4 images/s on the 2-core build machine. The paper's
renderer (Blender Cycles through `bpy`) is timed on the same scene only when `bpy` is installed.

--config NAME times an ltsh_synthetic builder config instead (e.g. `reference`: the generator's stage, a
procedural place, spherical-harmonics lighting, rich clothing), through the builder's own synthesizer.
--mixed_renders N also times N D_M renders (ltsh_jax.synth.mixed.Mixer.mix with its defaults: Anny people in rich
clothing, spherical-harmonics lighting, motion blur) over the real MPII samples of ../shared, after one warm-up
render per photo, with the median time of its motion blur on its own; the figure there is >= 3 renders per second.

Run from the repository root:  python -m benchmarks.synthesis [--images 30] [--config reference]
    [--mixed_renders 12] [--output out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import time

import numpy as np
from PIL import Image

from data_builders.features import encode_instance_mask, make_example
from data_builders.ltsh_synthetic.ltsh_synthetic_dataset_builder import (
    Builder,
    encode_jpeg,
    example_seed,
    generate_example,
    make_synthesizer,
)
from ltsh_jax.data.schema import NO_GROUP
from ltsh_jax.synth.generate import Synthesizer
from ltsh_jax.synth.scene import SceneConfig

MPII = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "real_samples" / "mpii"
STAGES = ("posing", "placing", "rendering", "blurring", "labelling", "encoding")


def run(images: int, warmup: int, lam: float, seed: int, config: str = "") -> dict:
    """Per-stage medians (ms), images/s and placement statistics over `images` generated images (of the builder
    config `config`, or the uniform-range SceneConfig with Poisson(lam) people when empty)."""
    if config:
        builder_config = {c.name: c for c in Builder.BUILDER_CONFIGS}[config]
        synthesizer = make_synthesizer(builder_config)
        size = (builder_config.width, builder_config.height)
    else:
        synthesizer = Synthesizer(SceneConfig(lam=lam))
        size = (640, 640)
    for index in range(warmup):
        generate_example(synthesizer, seed + 1, "train", index)
    per_image = {stage: [] for stage in (*STAGES, "total")}
    cpu_per_image = []
    humans, attempts, rejected = [], 0, 0
    start = time.perf_counter()
    for index in range(images):
        before = dict(synthesizer.timings)
        cpu = time.process_time()
        clock = time.perf_counter()
        result = synthesizer.generate(example_seed(seed, "train", index))
        generated = time.perf_counter()
        num = result.labels.keypoints.shape[0]
        make_example(
            image=encode_jpeg(result.frame.color), filename="x", height=size[1], width=size[0],
            keypoints=result.labels.keypoints, head_box=result.labels.head_box, objpos=result.labels.objpos,
            scale=result.labels.scale, is_synthetic=[True] * num, group_id=[NO_GROUP] * num,
            camera_pitch=result.camera.pitch, instance_mask=encode_instance_mask(result.frame.instance),
        )  # fmt: skip
        done = time.perf_counter()
        for stage in STAGES[:-1]:
            per_image[stage].append(synthesizer.timings[stage] - before.get(stage, 0.0))
        per_image["encoding"].append(done - generated)
        per_image["total"].append(done - clock)
        cpu_per_image.append(time.process_time() - cpu)
        humans.append(num)
        attempts += result.placement.attempts
        rejected += result.placement.rejected_overlap
    wall = time.perf_counter() - start
    synthesizer.renderer.release()
    medians = {stage: 1000 * statistics.median(values) for stage, values in per_image.items()}
    return {
        "images": images,
        "median_ms": medians,
        "images_per_s_from_median": 1000 / medians["total"],
        "images_per_s_run": images / wall,
        "median_cpu_ms": 1000 * statistics.median(cpu_per_image),
        "load_average": os.getloadavg(),
        "mean_humans": statistics.fmean(humans),
        "overlap_rejection_rate": rejected / max(attempts, 1),
    }


def run_mixed(renders: int, folder: pathlib.Path) -> dict:
    """Median seconds per D_M render (Mixer defaults) over the real MPII samples, after a warm-up per photo."""
    from ltsh_jax.synth.mixed import Mixer  # noqa: PLC0415  (needs moderngl)

    records = json.loads((folder / "test_mpii.json").read_text())
    samples = []
    for record in records:
        vis = np.array(record["joints_vis"], float)
        samples.append((
            np.asarray(Image.open(folder / record["image"]).convert("RGB")),
            np.concatenate([np.array(record["joints"], float) - 1.0, 2 * vis[:, None]], 1)[None],
            np.array([record["center"]], float) - 1.0,
            np.array([record["scale"]], float),
        ))  # fmt: skip
    mixer = Mixer()
    times, blur_times = [], []
    try:
        for i, sample in enumerate(samples):  # warm-up: the body model's batch shapes, one renderer per size
            mixer.mix(*sample, seed=10**6 + i)
        for i in range(renders):
            blurring = mixer.timings["blurring"]
            start = time.perf_counter()
            mixer.mix(*samples[i % len(samples)], seed=i)
            times.append(time.perf_counter() - start)
            blur_times.append(mixer.timings["blurring"] - blurring)
    finally:
        mixer.release()
    median = statistics.median(times)
    sizes = sorted({f"{s[0].shape[1]}x{s[0].shape[0]}" for s in samples})
    return {"renders": renders, "median_s": median, "renders_per_s": 1.0 / median, "sizes": sizes,
            "median_blur_s": statistics.median(blur_times), "load_average": os.getloadavg()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--lam", type=float, default=9.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="", help="an ltsh_synthetic builder config (e.g. reference)")
    parser.add_argument("--mixed_renders", type=int, default=0, help="also time this many D_M renders")
    parser.add_argument("--mpii", default=str(MPII), help="the real MPII samples for the D_M renders")
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()
    results = run(args.images, args.warmup, args.lam, args.seed, args.config)
    what = f"config {args.config}" if args.config else f"Poisson({args.lam:g}) humans"
    print(f"D_S synthesis, {what}, {args.images} images "
          f"(mean {results['mean_humans']:.1f} humans, "
          f"overlap rejection rate {results['overlap_rejection_rate']:.1%})")  # fmt: skip
    for stage, ms in results["median_ms"].items():
        print(f"  {stage:<10} median {ms:8.1f} ms")
    print(f"  images/s: {results['images_per_s_from_median']:.2f} (1 / median total), "
          f"{results['images_per_s_run']:.2f} (whole run); target >= 4")  # fmt: skip
    print(f"  process CPU time per image: median {results['median_cpu_ms']:.1f} ms (all threads of this process; "
          f"load average during the run {results['load_average'][0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip
    if importlib.util.find_spec("bpy") is None:
        print("bpy (Blender as a Python module) is not installed: no Cycles comparison "
              "(Blender Cycles took about 14 s per 9-body 640x640 scene at the paper generator's settings "
              "on this CPU)")  # fmt: skip
        results["bpy"] = "not installed"
    else:  # pragma: no cover - bpy is not on the build machine
        print("bpy is installed, but the Cycles scene export is not implemented: no comparison run")
        results["bpy"] = "installed, comparison not implemented"
    if args.mixed_renders:
        mixed = run_mixed(args.mixed_renders, pathlib.Path(args.mpii))
        results["mixed"] = mixed
        print(f"D_M renders ({', '.join(mixed['sizes'])}): median {1000 * mixed['median_s']:.0f} ms, "
              f"{mixed['renders_per_s']:.2f} renders/s (target >= 3), of which motion blur median "
              f"{1000 * mixed['median_blur_s']:.1f} ms; "
              f"load average {mixed['load_average'][0]:.1f}")  # fmt: skip
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
