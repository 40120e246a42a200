"""Where a student's AP goes: what became of each annotated sided joint, and whether decoding thresholds matter.

For one checkpoint on one built split (the network runs once per image, at one scale at the people's
training size, no flip: the demo's settings), it prints:
  outcomes   per annotated shoulder, elbow, wrist, hip, knee and ankle, looking at the predicted person
             nearest to its annotated person (mean distance over the joints both have):
               found        that person's joint lies within the PCKh threshold (half the head size);
               missing      that person has no such joint;
               both sides   the joint sits on the annotated opposite joint, beside that side's own
                            prediction (left and right on one point);
               swapped      on the opposite joint, the opposite side elsewhere;
               elsewhere    anything else.
             Wrists are shown apart too.
  small people the decoded people of 3 parts (the fewest the default keeps), and how many of them are one
             limb chain alone (shoulder-elbow-wrist or hip-knee-ankle of one side).
  sweep      mAP with the default `DecodeParams` and each variant in VARIANTS, from the same maps.

Tune on a split other than the one you report (docs/learning.md used `demo_pretrain`'s validation images):

    python -m benchmarks.joint_errors --workdir=RUN [--step=N] --data_dir=DATA --config=demo_pretrain \
        [--split=validation] [--dataset=ltsh_synthetic] [--output=out.json]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json

import numpy as np

from ltsh_jax.data import sources, splits
from ltsh_jax.decode import assemble, maps
from ltsh_jax.evaluation import mpii_ap
from ltsh_jax.evaluation import run as evaluation
from ltsh_jax.skeleton import MPII16_FLIP_PAIRS
from ltsh_jax.train.run_config import load_run_config

WRISTS = (10, 15)  # MPII-16 r_wrist, l_wrist
LIMB_CHAINS = ((0, 1, 2), (3, 4, 5), (10, 11, 12), (13, 14, 15))  # MPII-16 legs and arms, each side
OPPOSITE = {a: b for pair in MPII16_FLIP_PAIRS for a, b in (pair, pair[::-1])}
VARIANTS = {
    "peak_threshold=0.02": {"peak_threshold": 0.02},
    "min_mean_score=0.1": {"min_mean_score": 0.1},
    "min_parts=2": {"min_parts": 2},
    "min_parts=4": {"min_parts": 4},  # CMU's COCO rule, the demo's: drops the lone limbs counted under `small people`
    "paf_threshold=0": {"paf_threshold": 0.0},
    "min_samples_above=4": {"min_samples_above": 4},
}


def joint_outcomes(truth, people: assemble.DecodedPeople) -> collections.Counter:
    """Counter of (is_wrist, outcome) over the annotated sided joints of one image (module docstring)."""
    counts = collections.Counter()
    threshold = 0.5 * mpii_ap.head_sizes(truth.head_boxes)
    for g in range(len(truth.keypoints)):
        sided = [j for j in OPPOSITE if truth.present[g, j]]
        if not sided:
            continue
        if not len(people):
            counts.update((j in WRISTS, "missing") for j in sided)
            continue
        distance = np.linalg.norm(people.keypoints - truth.keypoints[g][None], axis=-1)  # [N, 16]
        both = (people.scores > 0) & truth.present[g][None]
        mean = np.where(both.any(1), (distance * both).sum(1) / np.maximum(both.sum(1), 1), np.inf)
        p = int(np.argmin(mean))
        for j in sided:
            k = OPPOSITE[j]
            if people.scores[p, j] <= 0:
                outcome = "missing"
            elif distance[p, j] <= threshold[g]:
                outcome = "found"
            elif truth.present[g, k] and np.linalg.norm(people.keypoints[p, j] - truth.keypoints[g, k]) <= threshold[g]:
                beside = (
                    people.scores[p, k] > 0
                    and np.linalg.norm(people.keypoints[p, j] - people.keypoints[p, k]) <= threshold[g]
                )
                outcome = "both sides" if beside else "swapped"
            else:
                outcome = "elsewhere"
            counts[(j in WRISTS, outcome)] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="A training run or an exported folder (export_params).")
    parser.add_argument("--step", type=int, default=None, help="Checkpoint step (default: the latest).")
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--dataset", default="ltsh_synthetic")
    parser.add_argument("--config", default="", help="The dataset's builder config, e.g. demo_pretrain.")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--output", default="", help="Also write the figures here as JSON.")
    args = parser.parse_args()

    config = load_run_config(args.workdir)
    student = evaluation.load_student(config, args.workdir, args.step)
    source = splits.load_split(args.dataset, args.split, args.data_dir, args.config or None)
    images = []  # (ground truth, maps) per image: the network runs once
    for i in range(len(source)):
        example = sources.decode_example(source[i])
        height = evaluation.people_size_height(example, config.data.augment.target_scale)
        image_maps = maps.predict_maps(
            student.apply_fn, student.params, example.image, skeleton=student.skeleton, scales=[1.0], flip=False,
            stride=config.data.stride, base_size=height or 368,
        )  # fmt: skip
        images.append((example.image.shape[:2], evaluation.ground_truth_of(example)[0], image_maps))

    def decode_all(params: assemble.DecodeParams) -> list[assemble.DecodedPeople]:
        return [assemble.decode(m.heatmaps, m.pafs, skeleton=student.skeleton, input_size=size, stride=m.stride,
                                params=params) for size, _, m in images]  # fmt: skip

    def mean_ap(decoded: list[assemble.DecodedPeople]) -> float:
        truths = [truth for _, truth, _ in images]
        predictions = [evaluation.to_prediction(t.name, people) for t, people in zip(truths, decoded, strict=True)]
        return evaluation.score(truths, predictions, multi_person_groups=False)[0].table["mAP"]

    default = decode_all(assemble.DecodeParams())
    small = [people.scores[p] > 0 for people in default for p in range(len(people)) if people.num_parts[p] == 3]
    limbs = sum(any(set(np.nonzero(found)[0]) == set(chain) for chain in LIMB_CHAINS) for found in small)
    print(
        f"small people: {len(small)} of {sum(len(p) for p in default)} decoded people have 3 parts, "
        f"{limbs} of them one arm or leg alone"
    )
    counts = collections.Counter()
    for (_, truth, _), people in zip(images, default, strict=True):
        counts += joint_outcomes(truth, people)
    outcomes = {}
    for name, wrist_only in (("sided joints", False), ("wrists", True)):
        selected = collections.Counter()
        for (wrist, outcome), n in counts.items():
            if wrist or not wrist_only:
                selected[outcome] += n
        total = sum(selected.values())
        outcomes[name] = {"count": total, **{o: round(n / max(total, 1), 3) for o, n in sorted(selected.items())}}
        print(f"{name} ({total}): " + ", ".join(f"{o} {n / max(total, 1):.0%}" for o, n in sorted(selected.items())))
    sweep = {"default": mean_ap(default)}
    for name, changes in VARIANTS.items():
        sweep[name] = mean_ap(decode_all(dataclasses.replace(assemble.DecodeParams(), **changes)))
    for name, value in sweep.items():
        print(f"mAP {name:>22}: {value:.1f}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(
                {
                    "step": student.step,
                    "images": len(images),
                    "outcomes": outcomes,
                    "sweep": sweep,
                    "small_people": {"three_parts": len(small), "one_limb": int(limbs)},
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
