"""Launching a binary as N local processes for the multi-host tests, and reading what the runs wrote."""

from __future__ import annotations

import pathlib
import sys
import time

from experiments import launch_local
from ltsh_jax.metrics import read_metrics
from ltsh_jax.train.input_record import read_inputs
from tests.paths import REAL_MPII, REPO

# processes x forced host devices: the global mesh has 4 devices every time.
TOPOLOGIES = ((1, 4), (2, 2), (4, 1))
SMOKE = (
    "-m", "experiments.train", "--config=experiments/configs/smoke.py:test", f"--config.data.dir={REAL_MPII}",
    "--config.data.annotation_file=test_mpii.json", "--config.train.record_inputs=True", "--config.data.num_workers=1",
)  # fmt: skip
# Keys of metrics.jsonl compared between topologies (reduction order may differ: rtol 1e-5, WORKSPACE.md).
COMPARED = ("loss", "real_loss_per_joint", "synthetic_loss_per_joint", "grad_norm", "eval_loss")


def env(cache_dir: pathlib.Path, topology: str) -> dict:
    """The processes' environment: a persistent compilation cache of their own topology (e.g. "2x2")."""
    return launch_local.compile_cache_env(cache_dir / topology)


def train(workdir: pathlib.Path, processes: int, devices: int, *overrides: str, cache_dir: pathlib.Path,
          args=SMOKE, timeout: float = 1200) -> list[launch_local.ProcessResult]:  # fmt: skip
    """Runs experiments.train as `processes` x `devices`; asserts that every process exited 0."""
    results = launch_local.run(
        [sys.executable, *args, f"--workdir={workdir}", *overrides], processes, devices, timeout=timeout,
        cwd=str(REPO), env=env(cache_dir, f"{processes}x{devices}"),
    )  # fmt: skip
    for r in results:
        assert r.returncode == 0, (
            f"{processes}x{devices} process {r.process_id} exited {r.returncode}:\n{r.stderr[-4000:]}"
        )
    return results


def metrics_by_step(workdir: pathlib.Path) -> dict[int, dict]:
    """{step: {key: value}} of the compared keys of the run's metrics.jsonl (written by process 0)."""
    return {r["step"]: {k: r[k] for k in COMPARED if k in r} for r in read_metrics(workdir) if "loss" in r}


def global_crops(workdir: pathlib.Path) -> tuple[dict[int, dict[int, str]], dict[int, dict[int, set]]]:
    """({step: {slot: sha1}} over every process, {step: {process: slots}}); AssertionError when two processes
    made the same slot of a step."""
    merged, owners = {}, {}
    for process, record in read_inputs(workdir).items():
        for step, crops in record["crops"].items():
            here = merged.setdefault(step, {})
            assert not here.keys() & crops.keys(), f"step {step}: slots {here.keys() & crops.keys()} made twice"
            here.update(crops)
            owners.setdefault(step, {})[process] = set(crops)
    return merged, owners


def wait_for_step(path: pathlib.Path, step: int, procs: list[launch_local.LocalProcess], timeout: float = 900) -> None:
    """Waits until the input record file `path` has a line of `step`; when a process ends first or time runs
    out, stops them all and fails with the end of each one's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        if path.exists() and f'"step": {step},' in path.read_text():
            return
        time.sleep(0.2)
    results = launch_local.wait(procs, timeout=1)
    tails = "\n".join(f"--- process {r.process_id} exited {r.returncode}:\n{r.stderr[-3000:]}" for r in results)
    raise AssertionError(f"step {step} not reached:\n{tails}")
