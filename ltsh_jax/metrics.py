"""Training metrics to WORKDIR/metrics.jsonl (one JSON object per logged step), TensorBoard and a plot.

metrics.jsonl is the record of a run, only ever appended to: a resumed run first cuts the file after its
restored step's last line (one truncate, never a rewrite), so the file of a killed-and-resumed run equals
that of an uninterrupted one. A last line without its newline was torn by a kill mid-write: readers skip it
and a resumed run cuts it off with a warning.

WORKDIR may be a cloud URI (`gs://bucket/run`, ltsh_jax.paths). Objects there cannot be appended to or
truncated: each record rewrites metrics.jsonl whole (one atomic object write, so no line is ever torn
there) and a resume's cut is a rewrite of the kept bytes; TensorBoard's event files are written through
epath the same way (`_EpathEventFile`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os

import numpy as np
from etils import epath

from ltsh_jax import paths, plots

METRICS_FILE = "metrics.jsonl"


def _jsonable(value):
    array = np.asarray(value)
    if array.ndim == 0:
        number = array.item()
        return number if not isinstance(number, float) or math.isfinite(number) else str(number)
    return [_jsonable(v) for v in array]


def _scan(path: epath.Path) -> tuple[list[tuple[int, dict]], int | None]:
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


def read_metrics(workdir: str | os.PathLike) -> list[dict]:
    """All records of WORKDIR/metrics.jsonl (empty when the file does not exist; a torn last line skipped)."""
    return [record for _, record in _scan(paths.as_path(workdir) / METRICS_FILE)[0]]


def cut_after(workdir: str | os.PathLike, step: int) -> None:
    """Truncates WORKDIR/metrics.jsonl after the last record of `step` or earlier (a torn last line goes too,
    with a warning): what a run resumed from `step` appends to."""
    path = paths.as_path(workdir) / METRICS_FILE
    records, torn = _scan(path)
    cut = next((offset for offset, record in records if record.get("step", 0) > step), torn)
    if torn is not None:
        logging.warning("%s: dropped its torn last line (a kill while it was written) at byte %d", path, torn)
    if cut is not None:
        paths.truncate(path, cut)


class _EpathEventFile:
    """A TensorBoard event file at a cloud URI, written through epath: the bytes so far are kept and each
    flush writes the object whole (objects cannot be appended to), as tensorboardX's own gs:// writer does."""

    def __init__(self, path: str):
        self.path, self.buffer = paths.as_path(path), io.BytesIO()

    def write(self, data: bytes) -> None:
        self.buffer.write(data)

    def flush(self) -> None:
        self.path.write_bytes(self.buffer.getvalue())

    def close(self) -> None:
        self.flush()


class _EpathEventFiles:
    """tensorboardX's writer factory for a URI scheme (its hook for s3:// and gs://), through epath."""

    def open(self, path: str) -> _EpathEventFile:
        return _EpathEventFile(path)

    def directory_check(self, path: str) -> None:
        paths.as_path(path).mkdir(parents=True, exist_ok=True)


def _tensorboard_writer(logdir: epath.Path, purge_step: int):
    """tensorboardX's SummaryWriter into `logdir`; a URI's scheme is routed through epath first (tensorboardX
    would otherwise need google-cloud-storage or boto3 and its own credentials)."""
    from tensorboardX import SummaryWriter, record_writer  # local: only the writing process needs it

    if not paths.is_local(logdir):
        record_writer.register_writer_factory(os.fspath(logdir).split("://")[0], _EpathEventFiles())
    return SummaryWriter(os.fspath(logdir), purge_step=purge_step)


class MetricsWriter:
    """Appends metric records to metrics.jsonl and TensorBoard (only on process 0 when `enabled`)."""

    def __init__(self, workdir: str | os.PathLike, *, enabled: bool = True, resume_step: int = 0):
        self.workdir = paths.as_path(workdir)
        self.enabled = enabled
        self._tb = None
        if not enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        cut_after(self.workdir, resume_step)
        self._tb = _tensorboard_writer(self.workdir / "tensorboard", purge_step=resume_step + 1)

    def write(self, step: int, metrics: dict) -> dict:
        """Writes one record {'step': step, **metrics}; vectors become lists (and TensorBoard series)."""
        record = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        if not self.enabled:
            return record
        # With its newline, in one write: a kill leaves it whole or torn (locally; a remote rewrite is atomic).
        paths.append_text(self.workdir / METRICS_FILE, json.dumps(record) + "\n")
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


def plot_losses(workdir: str | os.PathLike, keys: tuple[str, ...] = ("loss", "eval_loss")) -> epath.Path | None:
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
    return plots.save_png(fig, paths.as_path(workdir) / "loss.png")
