"""The demo: the whole system on a fresh machine, with nothing downloaded and no user data.

    python -m experiments.demo --output_dir=demo_output        (what `make demo` runs)

1. Builds the demo's synthetic dataset (ltsh_synthetic/demo: train and a held-out validation split),
   rendered here from the embedded body model, poses and procedural backgrounds.
2. Scores the shipped baseline student (experiments/baselines/demo, trained on other images of the same
   scenes) on the held-out split, then fine-tunes it twice (experiments/configs/demo.py): with the
   synthetic half of each batch drawn uniformly, and chosen by the adversarial teacher over camera-pitch groups.
3. Scores both on the held-out split (MPII AP protocol, every annotated person), every kept checkpoint
   too, and writes OUTPUT_DIR/report.md: the table before and after fine-tuning, the held-out AP against
   training time, loss curves, the teacher's probabilities over time, and ground truth beside the predicted
   skeletons on held-out images. Where MPII is built, it says how to reproduce the paper's tables.
Rerunning continues where a killed run stopped (built data, finished runs and evaluations are reused).
"""

from __future__ import annotations

import pathlib
import shutil
import time

import numpy as np
from absl import app, flags

from experiments import cli
from experiments.configs import demo as demo_config
from ltsh_jax import paths
from ltsh_jax.cpu_flags import apply_cpu_xla_flags
from ltsh_jax.data import splits
from ltsh_jax.evaluation import comparison, curve
from ltsh_jax.evaluation.run import EvalSettings, evaluation_of
from ltsh_jax.metrics import read_metrics
from ltsh_jax.teacher import hook
from ltsh_jax.train import loop
from ltsh_jax.train.run_config import load_run_config

_OUTPUT_DIR = flags.DEFINE_string("output_dir", "demo_output", "Where the data, the runs and report.md go.")
_STEPS = flags.DEFINE_integer("steps", 0, "Student steps per run (0: the demo config's).")
_EVAL_IMAGES = flags.DEFINE_integer("eval_images", 0, "Score only the first N held-out images (0: all).")
_MPII_DATA_DIR = flags.DEFINE_string("mpii_data_dir", "~/tensorflow_datasets", "Where a built MPII would be.")

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNS = (("baseline", "Student, uniform synthetic sampling"), ("teacher", 'Student + adversarial teacher "C"'))
SYNTHETIC = "ltsh_synthetic/demo"
PRETRAINED = "pretrained"  # OUTPUT_DIR/pretrained/eval_validation: the baseline scored before fine-tuning


def build_synthetic(data_dir: pathlib.Path) -> None:
    """ltsh_synthetic/demo under data_dir (nothing to do when it is built already)."""
    from data_builders.build import build  # the builders register on import; only the demo needs them

    start = time.perf_counter()
    builder = build(SYNTHETIC, data_dir=data_dir)
    print(f"[demo] {builder.info.full_name}: {builder.info.splits} ({time.perf_counter() - start:.0f} s)")


def teacher_movement(workdir: pathlib.Path) -> dict | None:
    """How far the teacher's P~ moved from uniform: per teacher step, max |P~ - 1/G| and KL(P~ || uniform)."""
    probs = [np.asarray(r[hook.PROBS_KEY], np.float64) for r in read_metrics(workdir)
             if hook.PROBS_KEY in r]  # fmt: skip
    if not probs:
        return None
    p = np.stack(probs)
    active = p > 0  # empty groups are masked to probability 0
    uniform = 1.0 / active.sum(axis=1, keepdims=True)
    deviation = np.where(active, np.abs(p - uniform), 0).max(axis=1)
    kl = np.where(active, p * np.log(np.where(active, p, 1) / uniform), 0).sum(axis=1)
    return {
        "teacher_steps": len(p),
        "first": p[0].round(3).tolist(),
        "last": p[-1].round(3).tolist(),
        "max_deviation_first": float(deviation[0]),
        "max_deviation_last": float(deviation[-1]),
        "max_deviation_peak": float(deviation.max()),
        "kl_to_uniform_last": float(kl[-1]),
    }


def mpii_hint(data_dir: str) -> str:
    """How to run the real tables: what the user has (a built MPII or not) and the commands."""
    try:
        splits.load_split("mpii_multiperson", "validation", data_dir)
        status = f"MPII is built in `{data_dir}`: reproduce the paper's tables with"
    except (FileNotFoundError, KeyError):
        status = (
            f"MPII is not built in `{data_dir}`. Put the MPII images and annotations in a folder (see WORKSPACE.md), "
            "build it with `python -m data_builders.build mpii_multiperson "
            f"--data_dir={data_dir} --manual_dir=/path/to/mpii`, then reproduce the paper's tables with"
        )
    command = "    python -m experiments.reproduce --table={t} --workdir=runs/table{t} --data_dir={data_dir}"
    commands = "\n".join(command.format(t=t, data_dir=data_dir) for t in (1, 2, 3))
    return f"{status}\n\n{commands}\n\n(add `--variant=tiny` for a quick smoke run of each table on a CPU)\n"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def dataset_summary(results: dict) -> str:
    """What the students were scored on, from the evaluation's own counts and the builder config."""
    from data_builders.ltsh_synthetic.ltsh_synthetic_dataset_builder import Builder

    config = {c.name: c for c in Builder.BUILDER_CONFIGS}[SYNTHETIC.split("/")[1]]
    run = results[RUNS[0][0]]
    images, people = run["run"]["images"], run["counts"]["gt_people"]
    return (
        f"`{SYNTHETIC}` validation, {images} images of {config.width}x{config.height} with {people} annotated "
        f"people ({people / max(images, 1):.1f} per image; Poisson({config.lam:g}) requested, at most "
        f"{config.max_humans}), {config.distance_range[0]:g}-{config.distance_range[1]:g} m from the camera, "
        f"field of view {config.fov_range[0]:g}-{config.fov_range[1]:g} degrees, camera pitch "
        f"{config.pitch_range[0]:g}-{config.pitch_range[1]:g} degrees, rendered by the same generator config as "
        "the training split. Each image is scaled so that its people come out at their training size (one scale, "
        "no flip averaging: the demo's time goes to fine-tuning); decoded people with fewer than "
        f"{run['run']['settings']['min_parts']} parts are dropped (CMU's COCO rule; the paper's MPI test keeps 3)."
    )


def write_report(output: pathlib.Path, results: dict, seconds: dict, mpii: str) -> str:
    """OUTPUT/report.md from the runs' own files (results.json, metrics.jsonl, plots)."""
    lines = ["# ltsh_jax demo", ""]
    steps = results[RUNS[0][0]]["run"]["checkpoint_step"]
    lines += [
        f"Both students start from the shipped baseline (`{baseline_folder()}`: a width-1/4 student trained from",
        "scratch by `experiments/configs/demo_baseline.py` on 1,024 other images of the same scenes; how, and its",
        f"curves: `{baseline_folder()}/README.md`) and were fine-tuned here for {steps} steps on the demo's",
        f"synthetic training split (`{SYNTHETIC}`, rendered on this machine), as the paper fine-tunes its D_R",
        "baseline with synthetic data. All three were scored on its held-out validation split with the MPII AP",
        "protocol (PCKh@0.5, every annotated person); the numbers come from `*/eval_validation/results.json`,",
        "training curves from `*/metrics.jsonl`.",
        "",
        comparison.comparison_table(
            [(f"Baseline before fine-tuning (`{baseline_folder()}`)", results[PRETRAINED]["table"], None)]
            + [(label, results[key]["table"], None) for key, label in RUNS]
        ),
    ]
    for key, label in ((PRETRAINED, "Baseline before fine-tuning"), *RUNS):
        counts = results[key]["counts"]
        lines.append(
            f"- {label}: {results[key]['run']['images']} images, {counts['gt_people']} annotated people, "
            f"{counts['predicted_people']} predicted"
            + (f"; fine-tuned in {seconds[key]:.0f} s." if key in seconds else ".")
        )
    lines += ["", f"The held-out split: {dataset_summary(results)}", ""]
    lines += ["## Held-out AP during training", ""]
    lines += ["Every kept checkpoint scored like the final one (`*/eval_validation/ap_curve.json`); the time is",
              "the training loop's own wall clock on this machine, compilation included.", ""]  # fmt: skip
    lines += ["| student | " + " | ".join(f"step {row['step']}" for row in results[RUNS[0][0]]["curve"]) + " |"]
    lines += ["|---" * (1 + len(results[RUNS[0][0]]["curve"])) + "|"]
    for key, label in RUNS:
        cells = [f"{_number(row['mAP'])} ({_minutes(row['train_seconds'])})" for row in results[key]["curve"]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "mAP (training minutes)", ""]
    lines += [" ".join(f"![{label}]({key}/eval_validation/{curve.PLOT_FILE})" for key, label in RUNS)]
    lines += ["", "## Loss curves", ""]
    lines += [f"![{label}]({key}/loss.png)" for key, label in RUNS]
    movement = teacher_movement(output / "teacher")
    lines += ["", "## The teacher's probabilities over time", ""]
    if movement is None:
        lines.append("The teacher run logged no teacher step.")
    else:
        moved = movement["max_deviation_peak"] > 0.02
        lines += [
            "![teacher probabilities](teacher/teacher_probs.png)",
            "",
            f"{movement['teacher_steps']} teacher steps. P~ at the first step: {movement['first']}; at the last: "
            f"{movement['last']}. Largest |P~ - uniform| over the run: {movement['max_deviation_peak']:.3f} "
            f"(at the end {movement['max_deviation_last']:.3f}; KL(P~ || uniform) at the end "
            f"{movement['kl_to_uniform_last']:.4f}): the teacher "
            + ("moved away from uniform." if moved else "stayed close to uniform."),
        ]
    lines += ["", "## Ground truth beside prediction on held-out images", ""]
    lines += ["Left of each pair the annotated people, right what the student found (limbs drawn where both",
              "ends were found).", ""]  # fmt: skip
    for key, label in ((PRETRAINED, "Baseline before fine-tuning"), *RUNS):
        pictures = sorted((output / key / "eval_validation" / "pictures").glob("*.jpg"))[:4]
        lines += [f"{label}:", ""] + [f"![]({p.relative_to(output)})" for p in pictures] + [""]
    lines += ["## The paper's tables", "", mpii]
    text = "\n".join(lines) + "\n"
    (output / "report.md").write_text(text)
    return text


def baseline_folder() -> str:
    """The shipped baseline's folder, relative to the repository when it lies inside it."""
    folder = demo_config.BASELINE
    return str(folder.relative_to(REPO)) if folder.is_relative_to(REPO) else str(folder)


def pretrained_results(output: pathlib.Path, settings: EvalSettings) -> dict:
    """The shipped baseline scored on the held-out split before any fine-tuning, into OUTPUT/pretrained
    (reused when a rerun finds it made with the same settings)."""
    folder = output / PRETRAINED / f"eval_{settings.split}"
    return evaluation_of(load_run_config(demo_config.BASELINE), demo_config.BASELINE, settings, folder)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    apply_cpu_xla_flags()  # XLA:CPU settings (ltsh_jax/cpu_flags.py), before the first computation
    # The demo builds datasets and renders into it with local tools: a bucket is refused in one line.
    output = paths.require_local(_OUTPUT_DIR.value, "--output_dir", "the demo builds and renders there").resolve()
    data_dir = output / "tensorflow_datasets"
    build_synthetic(data_dir)
    # One scale at the people's training size, no flip: each of the 16 images is scaled 2-3x (people 60-100 px
    # tall shown at about 200 px), and five evaluations share the demo's 15 minutes. People of 3 parts are
    # dropped (CMU's COCO rule, min_parts 4): the small student's are mostly a lone arm or leg beside a person
    # already found (docs/learning.md; on demo_pretrain's validation images the baseline's 30.7 becomes 32.8).
    settings = EvalSettings(
        dataset="ltsh_synthetic", split="validation", data_dir=str(data_dir),
        scales=(1.0,), flip=False, max_images=_EVAL_IMAGES.value, pictures=4, multi_person_groups=False,
        builder_config=SYNTHETIC.split("/")[1], min_parts=4,
    )  # fmt: skip
    print(f"[demo] scoring the shipped baseline ({baseline_folder()}) on the held-out split")
    results, seconds = {PRETRAINED: pretrained_results(output, settings)}, {}
    for key, label in RUNS:
        config = demo_config.get_config(key)
        for section in (config.data, config.data.synthetic):
            section.data_dir = str(data_dir)
        if _STEPS.value:
            config.train.num_steps = _STEPS.value
        run_dir = output / key
        print(f"[demo] training: {label} ({config.train.num_steps} steps) in {run_dir}")
        start = time.perf_counter()
        loop.train_and_evaluate(config, run_dir)  # resumes; a finished run only reloads its data
        seconds[key] = time.perf_counter() - start
        print(f"[demo] scoring {label} on the held-out split")
        results[key] = evaluation_of(config, run_dir, settings)
        results[key]["curve"] = curve.ap_curve(config, run_dir, settings, final=results[key])
    text = write_report(output, results, seconds, mpii_hint(_MPII_DATA_DIR.value))
    if (output / "teacher" / "teacher_probs.png").exists():
        shutil.copyfile(output / "teacher" / "teacher_probs.png", output / "teacher_probs.png")
    print(text)
    print(f"[demo] report: {output / 'report.md'}")


def run() -> None:
    """`ltsh-demo`, the same as `python -m experiments.demo` (library INFO logs off unless --verbosity asks)."""
    cli.run_main(main)


if __name__ == "__main__":
    run()
