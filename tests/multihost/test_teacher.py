"""The teacher on N hosts: trained as 1x4, 2x2 and 4x1 (processes x devices) over 127.0.0.1, every process
records the same group sequence and the same teacher input crops as the 1-process run, a run killed in the
middle (one process SIGKILLed: the others stop) resumes to the same records, and its checkpoint is scored
by experiments.evaluate in one process. Data: the builder's dummy mpii_multiperson, its train split
standing in for the synthetic data (grouping 'mD' needs no camera; groups of one allowed). Slow."""

from __future__ import annotations

import json
import signal
import sys

import numpy as np
import pytest

from data_builders.build import build
from data_builders.mpii_multiperson.conftest import DUMMY
from experiments import launch_local
from ltsh_jax.metrics import read_metrics
from ltsh_jax.teacher import hook
from ltsh_jax.train.input_record import read_inputs
from tests.multihost import launch
from tests.paths import REPO

pytestmark = pytest.mark.slow
STEPS = 8


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    build("mpii_multiperson", data_dir=data_dir, manual_dir=DUMMY / "json")
    return data_dir


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jax_cache")


def _args(data_dir) -> tuple[str, ...]:
    return (
        "-m", "experiments.train", "--config=experiments/configs/teacher_c.py:tiny",
        f"--config.data.data_dir={data_dir}", "--config.data.synthetic.name=mpii_multiperson",
        "--config.data.synthetic.builder_config=", "--config.data.synthetic.split=train",
        f"--config.data.synthetic.data_dir={data_dir}", "--config.data.synthetic.people=all",
        "--config.teacher.grouping=mD", "--config.teacher.num_groups=2", "--config.teacher.min_group_size=1",
        "--config.teacher.every_n=2",
        "--config.data.num_workers=1", "--config.train.record_inputs=True", f"--config.train.num_steps={STEPS}",
        "--config.train.log_every=1", "--config.train.eval_every=0", "--config.train.checkpoint_every=3",
    )  # fmt: skip


def _teacher_records(workdir) -> dict[int, dict]:
    """{process: {step: (group, [sha1 of each teacher input crop])}}."""
    return {p: record["teacher"] for p, record in read_inputs(workdir).items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir, cache_dir):
    out = {}
    for processes, devices in launch.TOPOLOGIES:
        workdir = tmp_path_factory.mktemp(f"teacher_{processes}x{devices}")
        launch.train(workdir, processes, devices, cache_dir=cache_dir, args=_args(data_dir))
        out[processes, devices] = workdir
    return out


def test_every_process_draws_the_groups_of_the_one_process_run_on_the_same_crops(runs):
    reference = _teacher_records(runs[1, 4])[0]
    assert sorted(reference) == [2, 4, 6, 8] and len({g for g, _ in reference.values()}) >= 1
    for topology, workdir in runs.items():
        records = _teacher_records(workdir)
        assert sorted(records) == list(range(topology[0]))
        for process, teacher in records.items():
            assert teacher == reference, f"{topology} process {process}"
        crops, _ = launch.global_crops(workdir)
        assert crops == launch.global_crops(runs[1, 4])[0], topology
        probs = [r[hook.PROBS_KEY] for r in read_metrics(workdir) if hook.PROBS_KEY in r]
        expected = [r[hook.PROBS_KEY] for r in read_metrics(runs[1, 4]) if hook.PROBS_KEY in r]
        np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6, err_msg=str(topology))


def test_killed_mid_run_the_others_stop_and_a_rerun_gives_the_same_records(tmp_path, runs, data_dir, cache_dir):
    workdir = tmp_path / "killed"
    command = [sys.executable, *_args(data_dir), f"--workdir={workdir}", "--heartbeat_timeout=10"]
    procs = launch_local.start(command, 2, 2, cwd=str(REPO), env=launch.env(cache_dir, "2x2"))
    try:
        launch.wait_for_step(workdir / "inputs" / "process_1.jsonl", 4, procs)  # block [4, 6), after checkpoint 3
        procs[1].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=180)  # no hang: the coordinator sees the dead process within the heartbeat timeout
    finally:
        results = launch_local.wait(procs, timeout=30)
    assert results[0].returncode != 0
    launch.train(workdir, 2, 2, cache_dir=cache_dir, args=_args(data_dir))
    assert _teacher_records(workdir) == _teacher_records(runs[2, 2])


def test_a_checkpoint_of_two_processes_is_scored_by_evaluate_in_one(runs, data_dir, tmp_path):
    out = launch_local.run(
        [sys.executable, "-m", "experiments.evaluate", f"--workdir={runs[2, 2]}", f"--data_dir={data_dir}",
         "--max_images=2", "--scales=1.0", "--noflip", "--pictures=1", f"--output_dir={tmp_path / 'eval'}"],
        1, 1, timeout=900, cwd=str(REPO),
    )  # fmt: skip
    assert out[0].returncode == 0, out[0].stderr[-3000:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["run"]["checkpoint_step"] == STEPS and results["run"]["images"] == 2
