"""Training metrics to WORKDIR/metrics.jsonl (one JSON object per logged step), TensorBoard and a plot.

metrics.jsonl is the record of a run, only ever appended to: a resumed run first cuts the file after its
restored step's last line (one truncate, never a rewrite), so the file of a killed-and-resumed run equals
that of an uninterrupted one. A last line without its newline was torn by a kill mid-write: readers skip it
and a resumed run cuts it off with a warning.
"""

from __future__ import annotations

import json
import logging
import math
import os
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


def _scan(path: pathlib.Path) -> tuple[list[tuple[int, dict]], int | None]:
    """([(byte offset of its line, record)] of every complete line, offset of a torn last line or None).

    Every record is written with its newline in one write, so a last line without one is torn."""
    if not path.exists():
        return [], None
    records, offset = [], 0
    for number, line in enumerate(path.read_bytes().splitlines(keepends=True), 1):
        if not line.endswith(b"\n"):
            return records, offset
        if line.strip():
            try:
                records.append((offset, json.loads(line)))
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ValueError(f"{path}:{number}: not a JSON object ({error})") from error
        offset += len(line)
    return records, None


def read_metrics(workdir: str | pathlib.Path) -> list[dict]:
    """All records of WORKDIR/metrics.jsonl (empty when the file does not exist; a torn last line skipped)."""
    return [record for _, record in _scan(pathlib.Path(workdir) / METRICS_FILE)[0]]


def cut_after(workdir: str | pathlib.Path, step: int) -> None:
    """Truncates WORKDIR/metrics.jsonl after the last record of `step` or earlier (a torn last line goes too,
    with a warning): what a run resumed from `step` appends to."""
    path = pathlib.Path(workdir) / METRICS_FILE
    records, torn = _scan(path)
    cut = next((offset for offset, record in records if record.get("step", 0) > step), torn)
    if torn is not None:
        logging.warning("%s: dropped its torn last line (a kill while it was written) at byte %d", path, torn)
    if cut is not None:
        os.truncate(path, cut)


class MetricsWriter:
    """Appends metric records to metrics.jsonl and TensorBoard (only on process 0 when `enabled`)."""

    def __init__(self, workdir: str | pathlib.Path, *, enabled: bool = True, resume_step: int = 0):
        self.workdir = pathlib.Path(workdir)
        self.enabled = enabled
        self._tb = None
        if not enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        cut_after(self.workdir, resume_step)
        from tensorboardX import SummaryWriter  # local: only the writing process needs it

        self._tb = SummaryWriter(str(self.workdir / "tensorboard"), purge_step=resume_step + 1)

    def write(self, step: int, metrics: dict) -> dict:
        """Writes one record {'step': step, **metrics}; vectors become lists (and TensorBoard series)."""
        record = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        if not self.enabled:
            return record
        with open(self.workdir / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")  # with its newline: a kill leaves it whole or torn
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
