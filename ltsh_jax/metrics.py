"""Training metrics to WORKDIR/metrics.jsonl (one JSON object per logged step), TensorBoard and a plot.

metrics.jsonl is the record of a run: a resumed run first drops the lines after its restored step, so
the file of a killed-and-resumed run equals that of an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np

from ltsh_jax import plots

METRICS_FILE = "metrics.jsonl"


def _jsonable(value):
    array = np.asarray(value)
    if array.ndim == 0:
        number = array.item()
        return number if not isinstance(number, float) or math.isfinite(number) else str(number)
    return [_jsonable(v) for v in array]


def read_metrics(workdir: str | pathlib.Path) -> list[dict]:
    """All records of WORKDIR/metrics.jsonl (empty when the file does not exist)."""
    path = pathlib.Path(workdir) / METRICS_FILE
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not a JSON object ({error})") from error
    return records


class MetricsWriter:
    """Appends metric records to metrics.jsonl and TensorBoard (only on process 0 when `enabled`)."""

    def __init__(self, workdir: str | pathlib.Path, *, enabled: bool = True, resume_step: int = 0):
        self.workdir = pathlib.Path(workdir)
        self.enabled = enabled
        self._tb = None
        if not enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_metrics(self.workdir) if r.get("step", 0) <= resume_step]
        (self.workdir / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in kept))
        from tensorboardX import SummaryWriter  # local: only the writing process needs it

        self._tb = SummaryWriter(str(self.workdir / "tensorboard"), purge_step=resume_step + 1)

    def write(self, step: int, metrics: dict) -> dict:
        """Writes one record {'step': step, **metrics}; vectors become lists (and TensorBoard series)."""
        record = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        if not self.enabled:
            return record
        with open(self.workdir / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")
        for key, value in metrics.items():
            values = np.asarray(value, np.float64).reshape(-1)
            if values.size == 1:
                self._tb.add_scalar(key, values[0], step)
            elif values.size <= 16:
                for i, v in enumerate(values):
                    self._tb.add_scalar(f"{key}/{i}", v, step)
        self._tb.flush()
        return record

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def plot_losses(workdir: str | pathlib.Path, keys: tuple[str, ...] = ("loss", "eval_loss")) -> pathlib.Path | None:
    """Writes WORKDIR/loss.png: each of `keys` over steps (log scale); None when there is nothing to plot."""
    records = read_metrics(workdir)
    series = {k: [(r["step"], r[k]) for r in records if isinstance(r.get(k), (int, float))] for k in keys}
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    plt = plots.pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, points in series.items():
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, label=key, marker="." if len(points) < 50 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    path = pathlib.Path(workdir) / "loss.png"
    return plots.save_png(fig, path)
