"""Speed of `ltsh_jax.decode.assemble.decode` against a plain-loop decoder written the way the reference code is.

What it measures, per scene (medians; after one warm-up call that compiles, --repeats rounds of 3
`decode` calls and 1 reference call, interleaved so that load from other processes hits both alike):
  jax         `decode(heatmaps, pafs, ...)`: the whole call, maps on the host in, people out.
  reference   `reference_decode_plain_loops` (below): the OpenPose Python demo's structure: per part,
              the map upsampled to input size (cached dense bicubic matrices, float32 numpy BLAS,
              standing in for cv2.resize), scipy `gaussian_filter`, peaks (scipy `maximum_filter`,
              then the exact plateau rule per candidate pixel); per limb, a Python loop over every
              candidate pair with 10 PAF samples each; the greedy loop over sorted candidates; the
              subset loop that scans every person for every connection. It uses this project's
              conventions (3x3 peaks with the same plateau rule, PAF read bilinearly at map resolution
              instead of upsampling the PAFs too, merging of partial people) so that its output must
              equal `decode`'s: that is checked and printed. Its time is split into maps (resize +
              blur + peaks) and the rest; `no-resize` also removes its resize time, as if the resize
              were free. Choices that make the reference faster than a literal port (cached resize
              matrices, blur on the image plus a 12 px margin only, maximum_filter, single-threaded
              BLAS) keep the ratio conservative.
Scenes: maps built by `build_targets` (stride 8) from several synthetic people, for a 368x368 input
and a 1280x720 input; and the 1280x720 scene through `predict_maps` with 1 and 3 scales (+ flip), where
a tiny OpenPose (width 1/16, 2 stages) runs for real and its output (x 0.01) is added to the target maps
of the people at that scale and flip, so that there are real peaks. Inference time is reported apart.

Run from the repository root:  python -m benchmarks.decode [--repeats 5] [--output out.json]
"""

from __future__ import annotations

import os

# The reference's numpy BLAS single-threaded: on a loaded 2-core machine OpenBLAS's spinning threads made
# its small matmuls 10-30x slower, which would flatter the ratio. Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import functools
import json
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.ndimage import gaussian_filter, maximum_filter

from ltsh_jax.decode.assemble import DecodeParams, decode
from ltsh_jax.decode.maps import predict_maps, scaled_sizes
from ltsh_jax.decode.peaks import PLATEAU_RTOL, cubic_weight
from ltsh_jax.models.openpose import OpenPose, StageOutput
from ltsh_jax.people import People
from ltsh_jax.skeleton import CMU_MPI, Skeleton
from ltsh_jax.train.targets import build_targets

SK = CMU_MPI
# A standing person about 340 px tall (CMU layout), centred on x = 0, feet at y = 0.
TEMPLATE = np.array(
    [[0, -340], [0, -300], [-30, -275], [-45, -215], [-50, -160], [30, -275], [45, -215], [50, -160],
     [-18, -170], [-20, -90], [-22, 0], [18, -170], [20, -90], [22, 0], [0, -220]], np.float64,
)  # fmt: skip


def make_people(rng: np.random.Generator, size: tuple[int, int], count: int) -> np.ndarray:
    """[count, J, 2] people side by side across the image, random height and pose jitter."""
    height, width = size
    out = []
    for k in range(count):
        scale = rng.uniform(0.5, 0.9) * height / 720 * (2.0 if height < 500 else 1.0)
        feet = np.array([(k + 0.5) * width / count + rng.uniform(-10, 10), height - rng.uniform(10, 60)])
        out.append(feet + scale * (TEMPLATE + rng.normal(0, 8, TEMPLATE.shape)))
    return np.asarray(out, np.float32)


_build = jax.jit(build_targets, static_argnames=("skeleton", "input_size"))


def target_maps(people: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    n = len(people)
    p = People(people[None], np.ones((1, n, SK.num_parts), bool), np.ones((1, n), bool), np.zeros((1, n), bool))
    t = _build(p, None, skeleton=SK, input_size=size)
    return np.asarray(t.heatmaps[0]), np.asarray(t.pafs[0])


# ---------------------------------------------------------------------------------------------------
# The plain-loop reference decoder.


@functools.lru_cache(maxsize=16)
def _upsample_matrix(n_in: int, stride: int) -> np.ndarray:
    u = (np.arange(n_in * stride) + 0.5) / stride - 0.5
    base = np.floor(u).astype(int)
    m = np.zeros((n_in * stride, n_in))
    for o in range(-1, 3):
        np.add.at(m, (np.arange(len(u)), np.clip(base + o, 0, n_in - 1)), cubic_weight(u - base - o))
    return m.astype(np.float32)


def _paf_at(paf: np.ndarray, limb: int, x: float, y: float, stride: int) -> tuple[float, float]:
    """Bilinear PAF vector of one limb at input pixel (x, y), map edge-clamped."""
    h, w = paf.shape[:2]
    mx = min(max((x + 0.5) / stride - 0.5, 0.0), w - 1.0)
    my = min(max((y + 0.5) / stride - 0.5, 0.0), h - 1.0)
    x0, y0 = int(math.floor(mx)), int(math.floor(my))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = mx - x0, my - y0
    out = []
    for c in (2 * limb, 2 * limb + 1):
        top = paf[y0, x0, c] * (1 - fx) + paf[y0, x1, c] * fx
        bottom = paf[y1, x0, c] * (1 - fx) + paf[y1, x1, c] * fx
        out.append(top * (1 - fy) + bottom * fy)
    return out[0], out[1]


def reference_decode_plain_loops(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    skeleton: Skeleton,
    input_size: tuple[int, int],
    stride: int = 8,
    params: DecodeParams | None = None,
    timings: dict | None = None,
) -> list[tuple[float, dict[int, tuple[int, int]]]]:
    """People as [(person score, {part: (x, y)})], highest score first; written as the reference loops."""
    params = params or DecodeParams()
    t0 = time.perf_counter()
    height, width = input_size
    pad = 6
    resize_time = 0.0
    all_peaks = []
    peak_counter = 0
    for part in range(skeleton.num_parts):
        ts = time.perf_counter()
        map_ori = np.pad(heatmaps[:, :, part], pad, mode="edge").astype(np.float32)
        up = _upsample_matrix(map_ori.shape[0], stride) @ map_ori @ _upsample_matrix(map_ori.shape[1], stride).T
        resize_time += time.perf_counter() - ts
        o, r = pad * stride, 12  # crop to the image plus the blur radius, blur, crop to the image
        one = gaussian_filter(up[o - r : o + height + r, o - r : o + width + r], sigma=params.smooth_sigma)[r:-r, r:-r]
        # candidates: above threshold and within tolerance of the 3x3 maximum; then the exact rule per candidate
        tol = PLATEAU_RTOL * np.abs(one)
        local_max = maximum_filter(one, size=3, mode="constant", cval=-np.inf)
        peaks = []
        for y, x in zip(*np.nonzero((one > params.peak_threshold) & (one >= local_max - tol)), strict=True):
            v, t = one[y, x], tol[y, x]
            ok, some_lower = True, False
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if (dy == dx == 0) or not (0 <= y + dy < height and 0 <= x + dx < width):
                        continue
                    nb = one[y + dy, x + dx]
                    earlier = dy < 0 or (dy == 0 and dx < 0)
                    ok = ok and ((v > nb + t) if earlier else (v >= nb - t))
                    some_lower = some_lower or v > nb + t
            if ok and some_lower:
                peaks.append((x, y))
        peaks_with_score = [(int(x), int(y), float(one[y, x])) for x, y in peaks]
        ids = range(peak_counter, peak_counter + len(peaks))
        all_peaks.append([peaks_with_score[i] + (ids[i],) for i in range(len(ids))])
        peak_counter += len(peaks)
    t1 = time.perf_counter()

    connection_all = []
    for k, (a, b) in enumerate(skeleton.limbs):
        cand_a, cand_b = all_peaks[a], all_peaks[b]
        n_a, n_b = len(cand_a), len(cand_b)
        connection_candidate = []
        for i in range(n_a):
            for j in range(n_b):
                vec = np.subtract(cand_b[j][:2], cand_a[i][:2])
                norm = math.sqrt(vec[0] * vec[0] + vec[1] * vec[1])
                if norm == 0:
                    continue
                vec = np.divide(vec, norm)
                startend = list(
                    zip(
                        np.linspace(cand_a[i][0], cand_b[j][0], num=params.num_samples),
                        np.linspace(cand_a[i][1], cand_b[j][1], num=params.num_samples),
                        strict=True,
                    )
                )
                vec_paf = [_paf_at(pafs, k, x, y, stride) for x, y in startend]
                score_midpts = np.multiply([v[0] for v in vec_paf], vec[0]) + np.multiply(
                    [v[1] for v in vec_paf], vec[1]
                )
                score_with_dist_prior = sum(score_midpts) / len(score_midpts) + min(
                    params.distance_prior * height / norm - 1, 0
                )
                criterion1 = len(np.nonzero(score_midpts > params.paf_threshold)[0]) >= params.min_samples_above
                criterion2 = score_with_dist_prior > 0
                if criterion1 and criterion2:
                    connection_candidate.append(
                        [i, j, score_with_dist_prior, score_with_dist_prior + cand_a[i][2] + cand_b[j][2]]
                    )
        connection_candidate = sorted(connection_candidate, key=lambda x: x[2], reverse=True)
        connection = np.zeros((0, 5))
        for c in range(len(connection_candidate)):
            i, j, s = connection_candidate[c][0:3]
            if i not in connection[:, 3] and j not in connection[:, 4]:
                connection = np.vstack([connection, [cand_a[i][3], cand_b[j][3], s, i, j]])
                if len(connection) >= min(n_a, n_b):
                    break
        connection_all.append(connection)

    num_parts = skeleton.num_parts
    subset = -1 * np.ones((0, num_parts + 2))
    candidate = np.array([item for sublist in all_peaks for item in sublist]).reshape(-1, 4)
    for k, (index_a, index_b) in enumerate(skeleton.limbs):
        part_as, part_bs = connection_all[k][:, 0], connection_all[k][:, 1]
        for i in range(len(connection_all[k])):
            found = 0
            subset_idx = [-1, -1]
            for j in range(len(subset)):
                if subset[j][index_a] == part_as[i] or subset[j][index_b] == part_bs[i]:
                    subset_idx[found] = j
                    found += 1
            if found == 1:
                j = subset_idx[0]
                if subset[j][index_b] == -1:
                    subset[j][index_b] = part_bs[i]
                    subset[j][-1] += 1
                    subset[j][-2] += candidate[part_bs[i].astype(int), 2] + connection_all[k][i][2]
                elif subset[j][index_a] == -1:
                    subset[j][index_a] = part_as[i]
                    subset[j][-1] += 1
                    subset[j][-2] += candidate[part_as[i].astype(int), 2] + connection_all[k][i][2]
            elif found == 2 and params.merge:  # two partial people: merge them if they share no part type
                j1, j2 = subset_idx
                membership = ((subset[j1] >= 0).astype(int) + (subset[j2] >= 0).astype(int))[:-2]
                if len(np.nonzero(membership == 2)[0]) == 0:
                    subset[j1][:-2] += subset[j2][:-2] + 1
                    subset[j1][-2:] += subset[j2][-2:]
                    subset[j1][-2] += connection_all[k][i][2]
                    subset = np.delete(subset, j2, 0)
            elif not found:
                row = -1 * np.ones(num_parts + 2)
                row[index_a] = part_as[i]
                row[index_b] = part_bs[i]
                row[-1] = 2
                row[-2] = sum(candidate[connection_all[k][i, :2].astype(int), 2]) + connection_all[k][i][2]
                subset = np.vstack([subset, row])
    delete_idx = [
        i
        for i in range(len(subset))
        if subset[i][-1] < params.min_parts or subset[i][-2] / subset[i][-1] < params.min_mean_score
    ]
    subset = np.delete(subset, delete_idx, axis=0)
    people = []
    for row in subset:
        parts = {p: tuple(int(v) for v in candidate[int(row[p]), :2]) for p in range(num_parts) if row[p] >= 0}
        people.append((float(row[-2]), parts))
    people.sort(key=lambda t: -t[0])
    if timings is not None:
        timings.update(resize=resize_time, maps=t1 - t0, rest=time.perf_counter() - t1)
    return people


# ---------------------------------------------------------------------------------------------------


def same_people(res, ref) -> bool:
    """Same people (part sets and integer pixel positions) and person scores within 1e-3 relative."""
    ours = sorted((tuple((p, tuple(int(v) for v in res.parts[n, p])) for p in np.nonzero(res.part_scores[n] > 0)[0]),
                   float(res.person_scores[n])) for n in range(len(res)))  # fmt: skip
    theirs = sorted((tuple(sorted(parts.items())), score) for score, parts in ref)
    if [o[0] for o in ours] != [t[0] for t in theirs]:
        return False
    return all(math.isclose(o[1], t[1], rel_tol=1e-3) for o, t in zip(ours, theirs, strict=True))


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bench_maps(name, heat, paf, size, repeats, gt_people, extra=None):
    """Times both decoders on the same maps, interleaved (3 jax calls, then 1 reference call, per round)."""
    res = decode(heat, paf, skeleton=SK, input_size=size)  # compile
    ours, ref_ms, splits = [], [], []
    for _ in range(repeats):
        for _ in range(3):
            t0 = time.perf_counter()
            decode(heat, paf, skeleton=SK, input_size=size)
            ours.append(1e3 * (time.perf_counter() - t0))
        timings = {}
        t0 = time.perf_counter()
        ref = reference_decode_plain_loops(heat, paf, SK, size, timings=timings)
        ref_ms.append(1e3 * (time.perf_counter() - t0))
        splits.append(timings)
    jax_ms, ref_total = statistics.median(ours), statistics.median(ref_ms)
    resize = 1e3 * statistics.median(s["resize"] for s in splits)
    row = dict(scene=name, input=f"{size[1]}x{size[0]}", maps=f"{heat.shape[1]}x{heat.shape[0]}",
               gt_people=gt_people, decoded=len(res), same_people=same_people(res, ref), jax_ms=jax_ms,
               reference_ms=ref_total, reference_maps_ms=1e3 * statistics.median(s["maps"] for s in splits),
               reference_resize_ms=resize, reference_rest_ms=1e3 * statistics.median(s["rest"] for s in splits),
               ratio=ref_total / jax_ms, ratio_no_resize=(ref_total - resize) / jax_ms)  # fmt: skip
    row.update(extra or {})
    return row


def oracle_apply_fn(model, people: np.ndarray, size: tuple[int, int], scales):
    """Tiny OpenPose run for real; its last stage (x 0.01) plus the target maps of the people at that scale.

    predict_maps batches (image, mirror image): element 1 gets the mirrored, left/right-swapped people.
    """
    height, width = size
    table = {}
    for scale in scales:
        (hs, ws), (hp, wp) = scaled_sizes(size, scale, base_size=368, stride=8)
        scaled = (people + 0.5) * np.array([ws / width, hs / height], np.float32) - 0.5
        mirrored = scaled[:, SK.flip_permutation].copy()
        mirrored[..., 0] = ws - 1 - mirrored[..., 0]
        maps = [target_maps(p, (hp, wp)) for p in (scaled, mirrored)]
        table[(hp, wp)] = tuple(jnp.asarray(np.stack([m[i] for m in maps])) for i in range(2))

    def apply_fn(params, images):
        out = model.apply(params, images)[-1]
        heat, paf = table[images.shape[1:3]]
        b = images.shape[0]
        return (StageOutput(0.01 * out.pafs + paf[:b], 0.01 * out.heatmaps + heat[:b]),)

    return apply_fn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds: 3 jax calls + 1 reference call each")
    parser.add_argument("--output", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []

    small = (368, 368)
    people_small = make_people(rng, small, 3)
    rows.append(bench_maps("targets", *target_maps(people_small, small), small, args.repeats, 3))

    large = (720, 1280)
    people_large = make_people(rng, large, 8)
    rows.append(bench_maps("targets", *target_maps(people_large, large), large, args.repeats, 8))

    model = OpenPose(num_heatmaps=SK.num_heatmaps, num_pafs=SK.num_pafs, width=1 / 16, num_stages=2)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    image = rng.integers(0, 256, size=large + (3,), dtype=np.uint8)
    for scales in ((1.0,), (0.7, 1.0, 1.3)):
        apply_fn = oracle_apply_fn(model, people_large, large, scales)
        predict = lambda: jax.block_until_ready(predict_maps(apply_fn, variables, image, skeleton=SK, scales=scales))  # noqa: B023
        maps = predict()
        assert maps.stride == 8  # every scale shrinks the 1280x720 image: the network's own grid
        heat, paf = np.asarray(maps.heatmaps), np.asarray(maps.pafs)
        infer_ms = median_ms(predict, args.repeats)
        rows.append(bench_maps(f"tiny net, {len(scales)} scale(s) + flip", heat, paf, large, args.repeats, 8,
                               extra=dict(inference_ms=infer_ms)))  # fmt: skip

    print(f"devices: {jax.devices()}; medians over {3 * args.repeats} jax calls and {args.repeats} reference calls")
    head = (f"{'scene':30} {'input':9} {'maps':7} {'gt':>3} {'found':>5} {'same':>5} {'jax ms':>8} {'ref ms':>9} "
            f"{'(maps':>8} {'resize':>7} {'rest)':>7} {'ratio':>7} {'no-resize':>9} {'infer ms':>9}")  # fmt: skip
    print(head)
    for r in rows:
        print(f"{r['scene']:30} {r['input']:9} {r['maps']:7} {r['gt_people']:3d} {r['decoded']:5d} "
              f"{str(r['same_people']):>5} {r['jax_ms']:8.1f} {r['reference_ms']:9.1f} {r['reference_maps_ms']:8.1f} "
              f"{r['reference_resize_ms']:7.1f} {r['reference_rest_ms']:7.1f} {r['ratio']:6.1f}x "
              f"{r['ratio_no_resize']:8.1f}x {r.get('inference_ms', float('nan')):9.1f}")  # fmt: skip
    if args.output:
        with open(args.output, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
