"""train_and_evaluate end to end on the real MPII samples, with the tiny smoke:test config."""

import json
import math
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments.configs import smoke
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.metrics import read_metrics
from ltsh_jax.models.openpose import build_model, get_skeleton, init_params
from ltsh_jax.train import health, loop, run_config
from tests.paths import REPO
from tests.train.kill import kill_at_step

MPII_SAMPLES = REPO.parent / "shared" / "data" / "real_samples" / "mpii"


def _config(**train):
    config = smoke.get_config("test")
    config.data.dir = str(MPII_SAMPLES)
    config.data.annotation_file = "test_mpii.json"
    config.train.update(train)
    return config


def _comparable(records):
    """Metrics records without the timing field, which differs between any two runs."""
    return [{k: v for k, v in r.items() if k != "examples_per_sec"} for r in records]


def _latest_params(workdir):
    checkpointer = Checkpointer(pathlib.Path(workdir) / "checkpoints")
    params = jax.tree_util.tree_map(np.asarray, _example_params())
    return checkpointer.latest_step(), jax.tree_util.tree_map(np.asarray, checkpointer.restore_params(params))


def _example_params():
    config = _config()
    return init_params(build_model(config, get_skeleton(config)), config, jax.random.key(0))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    loop.train_and_evaluate(_config(), workdir)
    return workdir


def test_run_writes_metrics_checkpoints_and_plot(uninterrupted):
    records = read_metrics(uninterrupted)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 6]  # 3: eval_every=3 is honoured between logs
    for record in records:
        for key in ("loss", "stage_losses", "lr", "examples_per_sec", "real_loss_per_joint", "grad_norm"):
            assert key in record, key
        assert math.isfinite(record["loss"]) and record["loss"] > 0
        assert len(record["stage_losses"]) == 2
        np.testing.assert_allclose(sum(record["stage_losses"]), record["loss"], rtol=1e-5)
        assert record["synthetic_loss_per_joint"] == 0.0  # MPII samples are all real
    assert [r["step"] for r in records if "eval_loss" in r] == [3, 6]
    assert all(math.isfinite(r["eval_loss"]) for r in records if "eval_loss" in r)
    assert sorted(int(p.name) for p in (uninterrupted / "checkpoints").iterdir() if p.name.isdigit()) == [3, 6]
    assert (uninterrupted / "loss.png").stat().st_size > 1000
    assert json.loads((uninterrupted / "final_metrics.json").read_text())["step"] == 6
    assert list((uninterrupted / "tensorboard").iterdir())


def test_resume_after_kill_gives_the_same_run(uninterrupted, tmp_path, monkeypatch):
    # batch of the fifth step: steps 1-4 ran, step 3 was checkpointed, steps 3 and 4 logged
    with monkeypatch.context() as patch:
        kill_at_step(4, patch)
        with pytest.raises(KeyboardInterrupt):
            loop.train_and_evaluate(_config(), tmp_path)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4]
    loop.train_and_evaluate(_config(), tmp_path)  # resumes from step 3, rewrites step 4

    assert _comparable(read_metrics(tmp_path)) == _comparable(read_metrics(uninterrupted))
    step_a, params_a = _latest_params(uninterrupted)
    step_b, params_b = _latest_params(tmp_path)
    assert step_a == step_b == 6
    jax.tree_util.tree_map(np.testing.assert_array_equal, params_a, params_b)


def test_exploded_parameters_never_reach_a_checkpoint_and_the_run_recovers(tmp_path):
    # issue 17's reproduction: 4 good steps, then an absurd learning rate with a checkpoint every step
    loop.train_and_evaluate(_config(num_steps=4, checkpoint_every=2), tmp_path)
    step, good_params = _latest_params(tmp_path)
    assert step == 4
    exploding = _config(num_steps=12, checkpoint_every=1)
    exploding.optim.learning_rate = 1e6  # step 5's update is finite but its parameters overflow the next loss
    with pytest.raises(
        health.TrainingDiverged, match=r"parameters of step 5 .* not saved.*Last good checkpoint: step 4"
    ):
        loop.train_and_evaluate(exploding, tmp_path, allow_config_change=True)
    step_after, params_after = _latest_params(tmp_path)
    assert step_after == 4
    jax.tree_util.tree_map(np.testing.assert_array_equal, params_after, good_params)

    normal = _config(num_steps=6, checkpoint_every=2)
    with pytest.raises(run_config.ConfigChangeError, match=r"optim.learning_rate: 1000000.0 -> 0.002"):
        loop.train_and_evaluate(normal, tmp_path)  # the run was last told 1e6: changing it back needs leave
    loop.train_and_evaluate(normal, tmp_path, allow_config_change=True)  # resumes from 4
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records if r["step"] > 4] == [6]
    assert all(math.isfinite(r["loss"]) and r["skipped_updates"] == 0 for r in records)
    assert _latest_params(tmp_path)[0] == 6
    history = run_config.config_history(tmp_path)
    assert [(h["step"], h["changes"]["optim.learning_rate"]["to"]) for h in history] == [(4, 1e6), (4, 0.002)]


def test_init_from_starts_from_the_other_runs_parameters(uninterrupted, tmp_path):
    config = _config(num_steps=1)
    config.init_from = str(uninterrupted)
    config.optim.learning_rate = 0.0  # one step that changes nothing: the checkpoint shows the start point
    loop.train_and_evaluate(config, tmp_path)
    _, source = _latest_params(uninterrupted)
    step, started = _latest_params(tmp_path)
    assert step == 1
    jax.tree_util.tree_map(np.testing.assert_array_equal, started, source)


def test_missing_data_dir_is_a_clear_error(tmp_path):
    config = _config()
    config.data.dir = ""
    with pytest.raises(ValueError, match="config.data.dir"):
        loop.train_and_evaluate(config, tmp_path)


def test_train_binary_rejects_unknown_config_key(tmp_path):
    out = subprocess.run(
        [
            sys.executable, "-m", "experiments.train", "--config=experiments/configs/smoke.py:test",
            f"--workdir={tmp_path}", "--config.train.no_such_key=3",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode != 0
    assert "no_such_key" in out.stderr
    assert not (tmp_path / "metrics.jsonl").exists()
