"""The student trained as 1x4, 2x2 and 4x1 (processes x devices) over 127.0.0.1: the same global batches and
the same metrics (within reduction-order noise), a checkpoint written by N processes restores in one, and
a mesh whose device order is not the process order still puts every row where its device is. Slow: each
launch compiles the step in every process."""

from __future__ import annotations

import json
import signal
import sys
import time

import jax
import numpy as np
import pytest

from experiments import launch_local
from experiments.configs import smoke
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.models.openpose import build_model, get_skeleton, init_params
from ltsh_jax.train import input_record, loop
from tests.multihost import launch
from tests.paths import REAL_MPII, REPO

pytestmark = pytest.mark.slow
STEPS = ("--config.train.num_steps=4", "--config.train.log_every=1", "--config.train.eval_every=2",
         "--config.train.checkpoint_every=2")  # fmt: skip


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jax_cache")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    """{(processes, devices): workdir} of the smoke config trained 4 steps in each topology."""
    out = {}
    for processes, devices in launch.TOPOLOGIES:
        workdir = tmp_path_factory.mktemp(f"smoke_{processes}x{devices}")
        launch.train(workdir, processes, devices, *STEPS, cache_dir=cache_dir)
        out[processes, devices] = workdir
    return out


def test_every_topology_makes_the_same_global_batches_from_disjoint_rows(runs):
    reference, _ = launch.global_crops(runs[1, 4])
    assert sorted(reference) == [0, 1, 2, 3] and all(sorted(c) == [0, 1, 2, 3] for c in reference.values())
    for (processes, devices), workdir in runs.items():
        crops, owners = launch.global_crops(workdir)
        assert crops == reference, f"{processes}x{devices}"
        for step in crops:  # the default mesh: process p holds rows [p * 4 / P, (p + 1) * 4 / P)
            expected = {p: set(range(p * devices, (p + 1) * devices)) for p in range(processes)}
            assert owners[step] == expected, f"{processes}x{devices} step {step}"


def test_every_topology_gives_the_metrics_of_one_process_within_reduction_noise(runs):
    reference = launch.metrics_by_step(runs[1, 4])
    assert sorted(reference) == [1, 2, 3, 4] and "eval_loss" in reference[2]
    for topology, workdir in runs.items():
        metrics = launch.metrics_by_step(workdir)
        assert sorted(metrics) == sorted(reference)
        for step, record in metrics.items():
            for key, value in record.items():
                np.testing.assert_allclose(value, reference[step][key], rtol=1e-5, err_msg=f"{topology} {key} {step}")


def test_a_checkpoint_written_by_several_processes_restores_in_one(runs):
    config = smoke.get_config("test")
    model = build_model(config, get_skeleton(config))
    like = init_params(model, config, jax.random.key(1))
    restored = {t: Checkpointer(w / "checkpoints").restore_params(like) for t, w in runs.items()}
    for topology in ((2, 2), (4, 1)):
        leaves = zip(
            jax.tree_util.tree_leaves(restored[topology]), jax.tree_util.tree_leaves(restored[1, 4]), strict=True
        )
        for a, b in leaves:
            # atol 1e-5: Adam lifts a near-zero gradient's reduction noise towards the step size (seen: 2e-6)
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5, err_msg=str(topology))


_MESH_ORDERS = r"""
import sys, json
import jax, numpy as np
from absl import flags
from experiments import distributed_flags
from experiments.configs import smoke
from jax.experimental import multihost_utils
from ltsh_jax import sharding
from ltsh_jax.models.openpose import get_skeleton
from ltsh_jax.train import input_record, loop
from tests.paths import REAL_MPII

flags.FLAGS(sys.argv)
distributed_flags.initialize_from_flags()
config = smoke.get_config("test")
config.data.dir, config.data.annotation_file, config.data.num_workers = str(REAL_MPII), "test_mpii.json", 1
devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))  # p0d0 p0d1 p1d0 p1d1
orders = {"reversed": devices[::-1], "interleaved": [devices[0], devices[2], devices[1], devices[3]]}
out = {}
for name, order in orders.items():
    mesh = sharding.make_mesh(order)
    rows = sharding.process_rows(mesh, config.train.batch_size)
    pipeline = loop.make_pipeline(config, get_skeleton(config), rows)
    batch = sharding.global_batch(pipeline.batch(3), mesh, rows)
    pipeline.close()
    full = jax.tree_util.tree_map(lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True)), batch)
    every_rows = np.asarray(multihost_utils.process_allgather(np.asarray(rows)))
    out[name] = {"rows": every_rows.tolist(), "digests": [input_record.row_digest(full, i) for i in range(4)]}
if jax.process_index() == 0:
    print("RESULT", json.dumps(out))
"""


def test_meshes_whose_device_order_is_not_the_process_order_give_the_same_global_batch(cache_dir):
    results = launch_local.run(
        [sys.executable, "-c", _MESH_ORDERS], 2, 2, timeout=900, cwd=str(REPO), env=launch.env(cache_dir, "mesh_orders")
    )
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    line = next(line for line in results[0].stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    # the sharding decides which rows a process makes, not the process index; non-contiguous rows work
    assert result["reversed"]["rows"] == [[2, 3], [0, 1]]
    assert result["interleaved"]["rows"] == [[0, 2], [1, 3]]
    config = smoke.get_config("test")
    config.data.dir, config.data.annotation_file, config.data.num_workers = str(REAL_MPII), "test_mpii.json", 1
    pipeline = loop.make_pipeline(config, get_skeleton(config))  # one process, every row
    try:
        whole = pipeline.batch(3)
    finally:
        pipeline.close()
    expected = [input_record.row_digest(whole, i) for i in range(4)]
    assert result["reversed"]["digests"] == expected and result["interleaved"]["digests"] == expected


def test_a_killed_process_stops_the_others_and_a_rerun_resumes(tmp_path, cache_dir, runs):
    workdir = tmp_path / "killed"
    steps = ("--config.train.num_steps=40", "--config.train.log_every=1", "--config.train.eval_every=2",
             "--config.train.checkpoint_every=2", "--heartbeat_timeout=10")  # fmt: skip
    command = [sys.executable, *launch.SMOKE, f"--workdir={workdir}", *steps]
    procs = launch_local.start(command, 2, 2, cwd=str(REPO), env=launch.env(cache_dir, "2x2"))
    try:
        launch.wait_for_step(workdir / "inputs" / "process_1.jsonl", 5, procs)
        procs[1].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        procs[0].wait(timeout=180)  # bounded: the coordinator notices the dead process, no hang
        stopped_after = time.monotonic() - killed_at
    finally:
        results = launch_local.wait(procs, timeout=30)
    assert results[0].returncode != 0, results[0].stderr[-3000:]
    print(f"process 0 stopped {stopped_after:.1f} s after process 1 was killed:\n{results[0].stderr[-1500:]}")
    saved = Checkpointer(workdir / "checkpoints").latest_step()
    assert saved is not None and saved <= 6

    launch.train(workdir, 2, 2, *STEPS, "--config.train.num_steps=6", cache_dir=cache_dir)
    reference = launch.metrics_by_step(runs[1, 4])
    resumed = launch.metrics_by_step(workdir)
    assert sorted(resumed) == list(range(1, 7))
    for step in (1, 2, 3, 4):  # the learning rate does not depend on num_steps: the same steps as the 4-step runs
        for key, value in reference[step].items():
            np.testing.assert_allclose(resumed[step][key], value, rtol=1e-5, err_msg=f"{key} {step}")
