"""Speed of the MPII multi-person evaluation (ltsh_jax.evaluation) on synthetic data.

What it measures: seconds to evaluate --images images x --people GT people, each with as many
noisy predicted people (default 1,000 x 10 = 10,000 predictions): `mpii_ap.evaluate` (assignment,
per-joint AP, table), then the 5 visibility bins, and separately the parsing of the same data from
its decoded JSON (json.loads, timed apart, is Python's own). Median (min, max) over --repeats runs
after one warm-up.

    python -m benchmarks.evaluation [--images 1000] [--people 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from ltsh_jax.evaluation import mpii_ap, mpii_json_io, mpii_json_write, visibility
from ltsh_jax.evaluation.records import GroundTruthImage, PredictionImage


def make_data(images: int, people: int, seed: int = 0) -> tuple[list[GroundTruthImage], list[PredictionImage]]:
    """Random GT people (90% of joints annotated, 70% of those visible) and noisy predictions of them."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for i in range(images):
        kp = rng.uniform(0, 1000, (people, 1, 2)) + rng.uniform(-60, 60, (people, 16, 2))
        present = rng.random((people, 16)) < 0.9
        centre = kp[:, 9]
        boxes = np.concatenate([centre - [15, 20], centre + [15, 20]], 1)
        visible = present & (rng.random((people, 16)) < 0.7)
        gts.append(GroundTruthImage(f"{i:09d}.jpg", kp, present, visible, boxes, np.zeros(people, np.int64)))
        noisy = kp[rng.permutation(people)] + rng.normal(0, 10, (people, 16, 2))
        scores = rng.random((people, 16))
        preds.append(PredictionImage(gts[-1].name, noisy, rng.random((people, 16)) < 0.9, scores, scores.mean(1)))
    return gts, preds


def _time(fn, repeats: int) -> list[float]:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def _line(what: str, times: list[float]) -> str:
    return f"{what:<40s} median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    gts, preds = make_data(args.images, args.people)
    n = sum(p.num_people for p in preds)
    result = mpii_ap.evaluate(gts, preds)
    print(
        f"{args.images} images, {n} predicted people, {sum(g.num_people for g in gts)} GT people; "
        f"mAP {result.table['mAP']:.1f}"
    )
    print(_line("evaluate (assign + AP + table)", _time(lambda: mpii_ap.evaluate(gts, preds), args.repeats)))
    print(
        _line(
            "evaluate + 5 visibility bins",
            _time(lambda: visibility.visibility_bins(mpii_ap.evaluate(gts, preds).assignment), args.repeats),
        )
    )
    gt_text = json.dumps(mpii_json_write.ground_truth_to_json(gts))
    pred_text = json.dumps(mpii_json_write.predictions_to_json(preds))
    print(_line("json.loads of both files' text", _time(lambda: (json.loads(gt_text), json.loads(pred_text)), 3)))
    gt_data, pred_data = json.loads(gt_text), json.loads(pred_text)
    parse = lambda: (mpii_json_io.parse_ground_truth(gt_data), mpii_json_io.parse_predictions(pred_data))
    print(_line("parse_ground_truth + parse_predictions", _time(parse, args.repeats)))


if __name__ == "__main__":
    main()
