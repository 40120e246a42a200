"""Held-out AP against training steps and wall-clock time: every kept checkpoint of a run, scored alike.

The loss says whether the optimiser makes progress; the AP says whether the student finds people. The
curve scores each checkpoint the run still keeps (config.train.max_checkpoints) with the same settings as
its final evaluation, and reads the training time up to that step from the run's metrics.jsonl. It is
written to WORKDIR/eval_SPLIT/ap_curve.json and ap_curve.png; a rerun scores only the steps not in the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import ml_collections
from etils import epath

from ltsh_jax import paths, plots
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.data import splits
from ltsh_jax.evaluation import report, run
from ltsh_jax.metrics import read_metrics

CURVE_FILE = "ap_curve.json"
PLOT_FILE = "ap_curve.png"


def training_seconds(records: Sequence[dict], batch_size: int) -> dict[int, float]:
    """Cumulative wall-clock training seconds at each logged step of metrics.jsonl records.

    Each logged record's `examples_per_sec` covers the steps since the previous logged record (the loop's
    window), so the window took (steps x batch_size / examples_per_sec) seconds; compilation counts, since a
    researcher waits for it too.
    """
    seconds, total, previous = {}, 0.0, 0
    for record in sorted((r for r in records if "examples_per_sec" in r), key=lambda r: r["step"]):
        step = int(record["step"])
        total += (step - previous) * batch_size / max(float(record["examples_per_sec"]), 1e-9)
        seconds[step], previous = total, step
    return seconds


def _settings_key(settings: run.EvalSettings) -> dict:
    """The settings that change the numbers, as the JSON file holds them (pictures drawn do not count)."""
    fields = dataclasses.asdict(settings)
    fields.pop("pictures")
    return json.loads(json.dumps(fields))


def ap_curve(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    settings: run.EvalSettings,
    final: dict | None = None,
) -> list[dict]:
    """Rows {step, train_seconds, mAP, table} for every kept checkpoint of `workdir`, oldest first.

    `final` (a results JSON of the same settings, e.g. from `run.evaluation_of`) supplies the row of the
    step it scored instead of scoring that checkpoint again.
    """
    workdir = paths.as_path(workdir)  # local or a cloud URI
    output = run.eval_output_dir(workdir, settings)
    path = output / CURVE_FILE
    key = _settings_key(settings)
    cached = {}
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("settings") == key:
            cached = {row["step"]: row for row in saved["rows"]}
    checkpointer = Checkpointer(workdir / "checkpoints", only_this_process=True)  # read by one process
    steps = checkpointer.steps()
    checkpointer.close()
    seconds = training_seconds(read_metrics(workdir), config.train.batch_size)
    source = None
    rows = []
    for step in steps:
        if step in cached:
            rows.append(cached[step])
            continue
        if final is not None and final["run"]["checkpoint_step"] == step:
            table = final["table"]
        else:
            if source is None:
                source = splits.load_split(
                    settings.dataset, settings.split, settings.data_dir, settings.builder_config or None
                )
            _, results = run.predict_checkpoint(config, workdir, source, settings, step)
            predictions = [run.to_prediction(r.ground_truth.name, r.people) for r in results]
            scored, _ = run.score(
                [r.ground_truth for r in results], predictions, multi_person_groups=settings.multi_person_groups
            )
            table = report.result_to_json(scored)["table"]
        rows.append({"step": step, "train_seconds": seconds.get(step), "mAP": table["mAP"], "table": table})
    paths.write_atomically(path, json.dumps({"settings": key, "rows": rows}, indent=2) + "\n")
    plot_ap_curve(rows, output / PLOT_FILE, title=f"{workdir.name}: held-out AP ({settings.split})")
    return rows


def plot_ap_curve(rows: Sequence[dict], path: str | os.PathLike, title: str = "") -> epath.Path:
    """mAP against training minutes (each point labelled with its step); against steps when no time is known."""
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    timed = all(row["train_seconds"] is not None for row in rows)
    xs = [row["train_seconds"] / 60 if timed else row["step"] for row in rows]
    ys = [row["mAP"] if row["mAP"] is not None else float("nan") for row in rows]
    ax.plot(xs, ys, marker="o")
    for x, y, row in zip(xs, ys, rows, strict=True):
        ax.annotate(f"{row['step']}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xlabel("training minutes (labels: step)" if timed else "step")
    ax.set_ylabel("mAP (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    return plots.save_png(fig, path)
