"""Input pipeline speed: augmented person crops per second per host core, against host-side targets.

What it measures, on a built TFDS dataset (mpii_multiperson format), half real and half "synthetic"
(the same split serves both sides): median crops/s of `ltsh_jax.data.pipeline.Pipeline` as training
runs it (decode, person-centred augmentation, padded people, ignore mask; the targets are built later
on the accelerator), with 1 worker thread (= per core) and with --workers threads. Then the CPU cost
per crop of each host stage, and of the targets built on the host in numpy as the reference code does
(per-person Gaussians combined by max, PAFs averaged over people, per-channel loss masks at stride 8,
the image normalised to float32): the ratio of the host path to the device path.
Wall-clock rates depend on what else runs on the machine (the load average is printed); crops per
CPU-second (process time of all threads) is the per-core cost, which contention affects much less.

The dataset (built once, reused with --data_dir): --num_images images with 2-8 people each of MPII
scale 1.5-4, written as MPII JSON and built with data_builders.build. --images=real (default) copies
the real MPII photos of ../shared in turn (progressive JPEGs of ~100 KB: what decoding costs on MPII);
synthetic: 1280x720 generated photos, progressive, ~100 KB, but costlier to decode (their grain fills
every DCT coefficient); legacy: the data of the first measurements (baseline JPEGs of ~360 KB, people
of scale 0.8-2.5, so fewer reduced-size decodes). The start-up line compares the person index built
from the build's annotation index with the same index built by reading every record.

How to run (from the repository root):
  python -m benchmarks.input_pipeline                      # 368x368 crops, batch 16, every core
  python -m benchmarks.input_pipeline --data_dir=/tmp/bench_tfds --batches=20 --rounds=5
Rounds of the variants are interleaved so that load from other processes hits them alike.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import statistics
import tempfile
import time

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from ltsh_jax.data import augment, decoding, sources, splits
from ltsh_jax.data.augment import AugmentParams
from ltsh_jax.data.pipeline import Pipeline
from ltsh_jax.skeleton import CMU_MPI, Skeleton

REAL_SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "shared/data/real_samples/mpii"
SYNTHETIC = dict(noise=3.0, quality=85, progressive=True)  # ~100 KB progressive, like MPII's files
LEGACY = dict(noise=12.0, quality=90, progressive=False, scales=(0.8, 2.5))  # the data of the first measurements


def _photo(rng: np.random.Generator, noise: float) -> np.ndarray:
    low = rng.uniform(0, 255, (18, 32, 3)).astype(np.uint8)
    pixels = np.asarray(Image.fromarray(low).resize((1280, 720), Image.Resampling.BICUBIC), np.float32)
    return np.clip(pixels + rng.normal(0, noise, pixels.shape), 0, 255).astype(np.uint8)


def write_manual_dir(folder: pathlib.Path, num_images: int, seed: int = 0, *, photos: pathlib.Path | None = None,
                     noise: float = 3.0, quality: int = 85, progressive: bool = True,
                     scales: tuple[float, float] = (1.5, 4.0)) -> None:  # fmt: skip
    """MPII JSON folder of `num_images` images with 2-8 people each, of MPII scale in `scales`.

    photos: a folder of JPEGs whose files are copied in turn (e.g. the real MPII samples: real decoding
    cost); None: 1280x720 synthetic photos (smooth colour fields + grain of std `noise`) saved with
    `quality` and `progressive`. MPII's people are of scale 1.5-4 (the samples have 1.8-4.7).
    """
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    sources = sorted(photos.glob("*.jpg")) if photos is not None else []
    records = []
    for i in range(num_images):
        name = f"{i:06d}.jpg"
        if sources:
            data = sources[i % len(sources)].read_bytes()
            (folder / "images" / name).write_bytes(data)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        else:
            width, height = 1280, 720
            Image.fromarray(_photo(rng, noise)).save(folder / "images" / name, quality=quality, progressive=progressive)
        for _ in range(rng.integers(2, 9)):
            scale = rng.uniform(*scales)  # person height / 200 px
            center = rng.uniform([0.08 * width, 0.14 * height], [0.92 * width, 0.86 * height])
            joints = center + rng.uniform(-0.5, 0.5, (16, 2)) * [0.4 * 200 * scale, 200 * scale]
            joints = np.clip(joints, 0, [width - 1, height - 1])
            records.append(dict(image=name, center=(center + 1).tolist(), scale=scale,
                                joints=(joints + 1).tolist(), joints_vis=[1] * 16))  # fmt: skip
    (folder / "train.json").write_text(json.dumps(records))


def host_targets(people, ignore: np.ndarray, image: np.ndarray, skeleton: Skeleton, stride: int = 8,
                 sigma: float = 7.0, paf_width: float = 1.0) -> dict:  # fmt: skip
    """Targets of one crop in numpy, vectorised over the map per person and part/limb (reference style)."""
    grid = image.shape[0] // stride
    cells = np.arange(grid, dtype=np.float32) * stride + stride / 2 - 0.5
    xx, yy = np.meshgrid(cells, cells)
    num_parts, limbs = skeleton.num_parts, skeleton.limbs
    heat = np.zeros((grid, grid, num_parts + 1), np.float32)
    paf = np.zeros((grid, grid, 2 * len(limbs)), np.float32)
    count = np.zeros((grid, grid, len(limbs)), np.float32)
    for p in np.flatnonzero(people.valid):
        kp, lab = people.keypoints[p], people.labelled[p]
        for j in np.flatnonzero(lab):
            g = np.exp(-((xx - kp[j, 0]) ** 2 + (yy - kp[j, 1]) ** 2) / (2 * sigma**2))
            heat[..., j] = np.maximum(heat[..., j], g)
        for k, (a, b) in enumerate(limbs):
            if not (lab[a] and lab[b]):
                continue
            start, end = kp[a] / stride, kp[b] / stride
            length = np.linalg.norm(end - start)
            if length < 1e-3:
                continue
            v = (end - start) / length
            dx, dy = (xx - stride / 2 + 0.5) / stride - start[0], (yy - stride / 2 + 0.5) / stride - start[1]
            along, across = dx * v[0] + dy * v[1], np.abs(dx * v[1] - dy * v[0])
            on = (along >= 0) & (along <= length) & (across <= paf_width)
            paf[on, 2 * k] += v[0]
            paf[on, 2 * k + 1] += v[1]
            count[on, k] += 1
    heat[..., -1] = 1 - heat[..., :-1].max(axis=-1)
    paf /= np.repeat(np.maximum(count, 1), 2, axis=-1)
    keep = 1.0 - ignore.astype(np.float32)[..., None]
    return dict(
        heatmaps=heat,
        pafs=paf,
        heatmap_mask=np.repeat(keep, num_parts + 1, axis=-1),
        paf_mask=np.repeat(keep, 2 * len(limbs), axis=-1),
        input=image.astype(np.float32) / 256.0 - 0.5,
    )


def crops_per_second(pipeline: Pipeline, first_step: int, batches: int) -> tuple[list[float], list[float]]:
    """Per batch: crops per wall-clock second, and crops per CPU-second of this process (all its threads)."""
    wall, cpu = [], []
    for step in range(first_step, first_step + batches):
        start, start_cpu = time.perf_counter(), time.process_time()
        batch = pipeline.batch(step)
        wall.append(len(batch["image"]) / (time.perf_counter() - start))
        cpu.append(len(batch["image"]) / max(time.process_time() - start_cpu, 1e-9))
    return wall, cpu


def stage_costs(pipeline: Pipeline, crops_count: int, rounds: int) -> dict[str, float]:
    """Median CPU ms per crop of each host stage, one thread, stages timed back to back on the same crops.

    read: the record (bytes + annotations); decode: JPEG at its DCT scale; warp: the 2x3 affine;
    people: transform, padded People, ignore mask; targets: host_targets (the host variant's extra).
    """
    params, skeleton, max_people = (pipeline.crop_args[k] for k in ("params", "skeleton", "max_people"))
    index, source = pipeline.real_index, pipeline.sources[0]
    times: dict[str, list[float]] = {k: [] for k in ("read", "decode", "warp", "people", "targets")}
    for r in range(rounds):
        for slot in range(crops_count):
            sample = (r * crops_count + slot) % len(index)
            rng = np.random.default_rng([0, r, slot])
            clock = time.process_time()
            record = source[int(index.record[sample])]
            person = int(index.person[sample])
            stamps = [clock, time.process_time()]
            matrix, flipped = augment.sample_transform(rng, record.centers[person], record.scales[person], params,
                                                       augment=True)  # fmt: skip
            pixels, image_matrix = decoding.decode_image_for_crop(record.image, matrix)
            stamps.append(time.process_time())
            image = augment.warp_image(pixels, image_matrix, params.crop_size)
            stamps.append(time.process_time())
            people = augment.crop_people(record.keypoints, record.labelled, matrix, flipped, skeleton, max_people,
                                         crop_size=params.crop_size, target=person, centers=record.centers,
                                         is_synthetic=record.is_synthetic)  # fmt: skip
            ignore = np.zeros((params.crop_size // 8,) * 2, np.uint8)
            stamps.append(time.process_time())
            host_targets(people, ignore, image, skeleton)
            stamps.append(time.process_time())
            for name, start, stop in zip(times, stamps[:-1], stamps[1:], strict=True):
                times[name].append((stop - start) * 1e3)
    return {name: statistics.median(v) for name, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", help="built dataset to reuse or build into (default: a temporary folder)")
    parser.add_argument("--num_images", type=int, default=48)
    parser.add_argument("--crop_size", type=int, default=368)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=8, help="timed batches per round and variant")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="threads for the all-cores runs")
    parser.add_argument("--max_people", type=int, default=8)
    parser.add_argument(
        "--images",
        choices=("real", "synthetic", "legacy"),
        default="real",
        help="what to build when --data_dir holds no dataset: real MPII sample photos of "
        "../shared, synthetic photos, or the legacy data (see above)",
    )
    args = parser.parse_args(argv)
    tfds.disable_progress_bar()

    tmp = tempfile.TemporaryDirectory()
    data_dir = pathlib.Path(args.data_dir or tmp.name).expanduser()
    try:
        real = sources.TfdsSource.load("mpii_multiperson", "train", data_dir)
    except FileNotFoundError:
        from data_builders.build import build  # the library never imports data_builders; the benchmark may

        manual = pathlib.Path(tmp.name) / "manual"
        options = dict(real=dict(photos=REAL_SAMPLES), synthetic=SYNTHETIC, legacy=LEGACY)[args.images]
        write_manual_dir(manual, args.num_images, **options)
        build("mpii_multiperson", data_dir=data_dir, manual_dir=manual)
        real = sources.TfdsSource.load("mpii_multiperson", "train", data_dir)
    startup: dict[str, list[float]] = {"annotation index": [], "reading every record": []}
    if real.index is None:
        del startup["annotation index"]  # a build from before the index: rebuild into a new --data_dir
    for _ in range(3):  # the person index at start-up, with the build's annotation index and without
        for name in startup:
            start = time.perf_counter()
            index = splits.load_annotation_index(real.data_source) if name == "annotation index" else None
            sources.all_annotations(sources.TfdsSource(real.data_source, index))
            startup[name].append(time.perf_counter() - start)
    common = dict(batch_size=args.batch_size, seed=0, params=AugmentParams(crop_size=args.crop_size),
                  skeleton=CMU_MPI, max_people=args.max_people, synthetic_people="all", prefetch=0)  # fmt: skip
    load = os.getloadavg()
    variants = {}
    for workers in sorted({1, args.workers}):
        variants[("device", workers)] = Pipeline(real, real, num_workers=workers, **common)
    print(f"{len(real)} images, {len(variants[('device', 1)].real_index)} person samples, "
          f"{args.crop_size}x{args.crop_size} crops, batch {args.batch_size}, {os.cpu_count()} cores")  # fmt: skip
    rates: dict = {key: [] for key in variants}
    cpu_rates: dict = {key: [] for key in variants}
    for pipeline in variants.values():
        pipeline.batch(0)  # warm-up: page cache, thread start
    for r in range(args.rounds):
        for key, pipeline in variants.items():
            wall, cpu = crops_per_second(pipeline, 1 + r * args.batches, args.batches)
            rates[key] += wall
            cpu_rates[key] += cpu
    median = {key: statistics.median(v) for key, v in rates.items()}
    print(f"load average before/after: {load}, {os.getloadavg()}  (other processes share these cores)")
    for (name, workers), rate in median.items():
        per_cpu = statistics.median(cpu_rates[(name, workers)])
        print(f"{name:7s} targets  {workers:2d} worker(s): {rate:7.1f} crops/s = {rate / workers:6.1f} per core"
              f" (min {min(rates[(name, workers)]):.1f}, max {max(rates[(name, workers)]):.1f});"
              f" {per_cpu:6.1f} crops per CPU-second")  # fmt: skip
    size = sum(p.stat().st_size for p in pathlib.Path(real.data_source.dataset_info.data_dir).glob("*.array_record*"))
    print(f"start-up (all_annotations over {len(real)} records, {size / 1e6:.1f} MB of records): "
          + ", ".join(f"{k} {statistics.median(v) * 1e3:.1f} ms" for k, v in startup.items()))  # fmt: skip
    costs = stage_costs(variants[("device", 1)], args.batch_size, args.rounds * 2)
    device = sum(v for k, v in costs.items() if k != "targets")
    print("median CPU ms per crop, one thread: " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items())
          + f"; device path {device:.2f} ms, host path {device + costs['targets']:.2f} ms: "
          f"ratio {(device + costs['targets']) / device:.2f}x")  # fmt: skip
    for pipeline in variants.values():
        pipeline.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
