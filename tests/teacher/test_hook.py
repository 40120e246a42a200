"""Teacher-driven training: the block keeps the hardest real crops like a numpy reference (on one and on 4
devices), the teacher learns to prefer a harder group, resume repeats the group sequence, bad teacher
configs fail at start-up, and (slow) a tiny end-to-end run through train.loop.

Data is in memory: records are uniformly coloured PNGs with one person, synthetic ones with camera
pitch 0, 4, 8, ... degrees (so grouping 'C' spreads them over the bins).
"""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from experiments.configs import teacher_c
from ltsh_jax import sharding
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.data.augment import AugmentParams
from ltsh_jax.data.pipeline import Pipeline
from ltsh_jax.data.schema import min_distances
from ltsh_jax.data.sources import PeopleRecord
from ltsh_jax.metrics import read_metrics
from ltsh_jax.models.teacher import Teacher, init_teacher_params
from ltsh_jax.skeleton import CMU_MPI
from ltsh_jax.teacher import hook as teacher_hook
from ltsh_jax.teacher import update
from ltsh_jax.train import loop, run_config
from tests.paths import REPO
from tests.teacher import block_selection
from tests.train.kill import kill_at_step

CROP = 32


class PeopleList:
    """`count` in-memory records: an 80x60 PNG, one person in its middle; synthetic ones carry a camera pitch."""

    def __init__(self, count: int, synthetic: bool, pitch=None):
        self.count, self.synthetic = count, synthetic
        self.pitch = np.arange(count) * 4.0 if pitch is None else np.asarray(pitch, np.float64)

    def __len__(self) -> int:
        return self.count

    def annotations(self, index: int) -> PeopleRecord:
        keypoints = np.random.default_rng(index).uniform(30, 50, (1, 16, 2)).astype(np.float32)
        labelled = np.ones((1, 16), bool)
        return PeopleRecord(
            image=b"", keypoints=keypoints, labelled=labelled, centers=np.array([[40.0, 30.0]], np.float32),
            scales=np.array([0.2], np.float32), is_synthetic=np.array([self.synthetic]),
            min_distance=min_distances(keypoints, labelled),
            camera_pitch=float(self.pitch[index]) if self.synthetic else float("nan"),
        )  # fmt: skip

    def __getitem__(self, index: int) -> PeopleRecord:
        pixels = np.full((60, 80, 3), 40 + 7 * index, np.uint8)
        pixels[..., int(self.synthetic)] = 200
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        return PeopleRecord(**{**self.annotations(index).__dict__, "image": buffer.getvalue()})


def _config(**teacher) -> ml_collections.ConfigDict:
    config = teacher_c.get_config("tiny")
    config.train.batch_size = 4
    config.data.input_size = CROP
    config.data.augment.target_scale = 1.25 * CROP / 368
    config.data.max_people = 2
    config.teacher.update(num_groups=4, every_n=2, input_size=16, width=0.0625, learning_rate=3e-3)
    config.teacher.update(teacher)
    return config


def _pipeline(config, synthetic=None) -> Pipeline:
    return Pipeline(
        PeopleList(6, False), PeopleList(12, True) if synthetic is None else synthetic,
        batch_size=config.train.batch_size, seed=config.seed, params=AugmentParams(crop_size=CROP, max_shift=0.0),
        skeleton=CMU_MPI, max_people=2, stride=8, num_workers=1, prefetch=0,
    )  # fmt: skip


@functools.cache
def _mesh():
    """The mesh of every device (one here unless XLA_FLAGS forces more)."""
    return sharding.make_mesh()


def _hook(config, pipeline, workdir, **kwargs) -> teacher_hook.TeacherHook:
    return teacher_hook.TeacherHook(config, pipeline, workdir, _mesh(), **kwargs)


def _fake_metrics(pipeline, step, batch, hard_group):
    """What the student step would report: synthetic loss 1 (+1 in the hard group) with noise, real losses random."""
    rng = np.random.default_rng(step)
    group = pipeline.schedule.group_at(step)
    synthetic = 1.0 + (group == hard_group) + 0.05 * rng.normal()
    return {
        "sample_loss_per_joint": jnp.asarray(rng.uniform(size=len(batch["is_synthetic"])), jnp.float32),
        "synthetic_loss_per_joint": jnp.float32(synthetic),
    }


def _drive(hook, pipeline, steps, hard_group=2, checkpointer=None, save_at=()):
    """Runs the hook over student steps [first, last) with fake metrics and the global batch (as the loop
    passes them), saving its checkpoint items and the pipeline state as the loop does at `save_at`; returns
    the teacher records."""
    records = []
    for step in steps:
        batch = sharding.global_batch(pipeline.batch(step), _mesh())
        record = hook.after_step(step, batch, _fake_metrics(pipeline, step, batch, hard_group))
        if record is not None:
            records.append((step + 1, record))
        if step + 1 in save_at:
            checkpointer.save(step + 1, hook.checkpoint_items(), {"step": step + 1, "input_pipeline": pipeline.state()})
    return records


def test_block_keeps_the_hardest_real_crops_like_the_numpy_reference_on_one_device():
    result = block_selection.device_blocks(num_devices=1)
    assert result["devices"] == 1 and result["replicated"]
    _assert_blocks_match(result["blocks"], block_selection.reference_blocks(block_selection.block_case()))


def test_block_keeps_the_hardest_real_crops_like_the_numpy_reference_on_four_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-m", "tests.teacher.block_selection"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    reference = block_selection.reference_blocks(block_selection.block_case())
    for name, result in json.loads(line[len("RESULT ") :]).items():
        assert result["devices"] == 4 and result["replicated"], name  # the batch really was split
        _assert_blocks_match(result["blocks"], reference)


def _assert_blocks_match(blocks, reference):
    assert len(blocks) == len(reference)
    for step, (got, want) in enumerate(zip(blocks, reference, strict=True)):
        assert got.pop("uniform_images"), step  # each kept image is one whole crop, not a mix
        assert got == want, step


def test_the_group_check_raises_when_the_processes_drew_different_groups(monkeypatch):
    teacher_hook.check_same_group(4, 2)  # one process: checks the group against itself
    monkeypatch.setattr(teacher_hook.multihost_utils, "process_allgather", lambda x: np.array([2, 3], np.int32))
    with pytest.raises(RuntimeError, match=r"step 4: the processes drew different groups \[2, 3\]"):
        teacher_hook.check_same_group(4, 2)


def test_resume_gives_the_same_group_sequence(tmp_path):
    config = _config()
    pipeline = _pipeline(config)
    hook = _hook(config, pipeline, tmp_path, announce=lambda _: None)
    hook.start(0)
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    full = _drive(hook, pipeline, range(12), checkpointer=checkpointer, save_at=(5,))  # mid-block: block saved too
    checkpointer.close()
    # a second process: same config, resumes at step 5 from the checkpoint's teacher items and pipeline state
    pipeline_b = _pipeline(config)
    hook_b = _hook(config, pipeline_b, tmp_path, announce=lambda _: None)
    like = hook_b.checkpoint_items()
    assert all(x.sharding.is_fully_replicated for x in jax.tree_util.tree_leaves(like))  # saved by every process
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    restored, meta = checkpointer.restore(5, like)
    checkpointer.close()
    assert meta["input_pipeline"]["decided_until"] == 6  # block [4, 6) was decided at step 4
    pipeline_b.restore(meta["input_pipeline"])
    hook_b.start(5, restored)
    assert int(hook_b.block.synthetic_count) == 1  # mid-block: step 4 of block [4, 6) was restored
    resumed = _drive(hook_b, pipeline_b, range(5, 12))
    groups = [(s, r["teacher_group"]) for s, r in full]
    assert [(s, r["teacher_group"]) for s, r in resumed] == [g for g in groups if g[0] > 5]
    for (_, a), (_, b) in zip([x for x in full if x[0] > 5], resumed, strict=True):
        np.testing.assert_array_equal(a[teacher_hook.PROBS_KEY], b[teacher_hook.PROBS_KEY])
        assert a["teacher_delta"] == b["teacher_delta"] and a["teacher_synthetic_loss"] == b["teacher_synthetic_loss"]
    assert pipeline_b.schedule.to_json() == pipeline.schedule.to_json()
    assert full[0][1]["teacher_judged_group"] == -1 and full[0][1]["teacher_delta"] == 0.0
    pipeline.close()
    pipeline_b.close()


@functools.cache
def _teacher_parts(num_groups):
    """(model, optimizer, jitted block step) of a tiny teacher over `num_groups` non-empty groups; built once."""
    cfg = ml_collections.ConfigDict(dict(input_size=16, alpha=0.01, eps=0.1))
    model = Teacher(num_groups, width=0.0625)
    optimizer = update.teacher_optimizer(3e-3, 10)
    mesh = _mesh()
    return model, optimizer, teacher_hook.make_block_step(model, optimizer, np.ones(num_groups, bool), cfg, mesh)


def _run_teacher(hard_group, num_steps, seed=0, num_groups=5):
    """block_step driven by a synthetic loss signal: the judged group's loss is 1 (+1 if hard) plus noise."""
    model, optimizer, step_fn = _teacher_parts(num_groups)
    params = init_teacher_params(model, 16, seed)
    inputs = np.random.default_rng(seed).integers(0, 255, (1, 16, 16, 3)).astype(np.uint8)
    state = teacher_hook.TeacherState(params=params, opt_state=optimizer.init(params), rng=jax.random.PRNGKey(seed),
                                      group=jnp.int32(0), inputs=jnp.asarray(inputs))  # fmt: skip
    state = jax.device_put(state, sharding.replicated(_mesh()))  # on the mesh, as the hook's: one compilation
    rng = np.random.default_rng(seed + 100)
    probs = []
    for _ in range(num_steps):
        loss = 1.0 + (int(state.group) == hard_group) + 0.05 * rng.normal()
        state, info = step_fn(state, np.float32(loss), jnp.asarray(inputs))  # a new buffer: the state is donated
        probs.append(np.asarray(info["probs"]))
    return np.array(probs)


def test_teacher_learns_to_prefer_the_harder_group_and_stays_uniform_otherwise():
    steps, groups = 100, 5
    hard = _run_teacher(hard_group=3, num_steps=steps, num_groups=groups)
    assert hard[-1, 3] > 2.0 / groups, hard[-1]  # clearly above uniform (0.2): twice it, within 100 teacher steps
    assert hard[-1, 3] == hard[-1].max() and (np.diff(hard[::10, 3]) > 0).all()  # and rising throughout
    equal = _run_teacher(hard_group=-1, num_steps=steps, num_groups=groups)
    assert np.abs(equal - 1.0 / groups).max() < 0.5 / groups, equal[-1]  # within 0.1 of 0.2 throughout


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("eps", 1.5, "config.teacher.eps=1.5"), ("alpha", -0.1, "config.teacher.alpha=-0.1"),
     ("num_groups", 1, r"leaves 1 group\(s\) of at least 2 samples"), ("every_n", 0, "every_n"),
     ("grouping", "pose", "grouping")],
)  # fmt: skip
def test_bad_teacher_config_fails_at_start_up(tmp_path, field, value, message):
    config = _config(**{field: value})
    pipeline = _pipeline(config)
    with pytest.raises(ValueError, match=message):
        _hook(config, pipeline, tmp_path)
    pipeline.close()


def test_missing_camera_pitch_fails_at_start_up(tmp_path):
    config = _config()
    pipeline = _pipeline(config, synthetic=PeopleList(4, True, pitch=[np.nan] * 4))
    with pytest.raises(ValueError, match="camera_pitch.*missing"):
        _hook(config, pipeline, tmp_path)
    pipeline.close()


def _teacher_records(workdir):
    return [r for r in read_metrics(workdir) if teacher_hook.PROBS_KEY in r]


@pytest.mark.slow
def test_tiny_end_to_end_training_with_the_teacher_and_resume(tmp_path, monkeypatch):
    sources = {"config.data": PeopleList(6, False), "config.data.synthetic": PeopleList(12, True)}
    monkeypatch.setattr(loop.sources, "open_source", lambda cfg, what="config.data": sources[what])
    config = _config()
    config.init_from = ""
    config.model.update(width=0.0625, num_stages=1)
    config.optim.freeze = ""
    config.data.num_workers = 1
    config.train.update(num_steps=8, log_every=4, eval_every=0, checkpoint_every=3)
    loop.train_and_evaluate(config, tmp_path / "full")
    records = _teacher_records(tmp_path / "full")
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    for r in records:
        assert len(r[teacher_hook.PROBS_KEY]) == 4 and abs(sum(r[teacher_hook.PROBS_KEY]) - 1) < 1e-5
        assert r["teacher_delta"] in (-1.0, 0.0, 1.0) and r["teacher_synthetic_loss"] > 0
    assert records[0]["teacher_delta"] == 0.0 and records[1]["teacher_delta"] != 0.0
    assert (tmp_path / "full" / "teacher_probs.png").stat().st_size > 1000
    groups = json.loads((tmp_path / "full" / teacher_hook.GROUPS_FILE).read_text())
    assert sum(groups["sizes"]) == 12 and len(groups["edges"]["C"]) == 5
    checkpoints = tmp_path / "full" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir() if p.name.isdigit()) == ["3", "6", "8"]
    assert {p.name for p in (checkpoints / "8").iterdir() if p.is_dir()} == {
        "params", "opt_state", teacher_hook.STATE_ITEM, teacher_hook.BLOCK_ITEM, "meta"}  # fmt: skip
    assert not (tmp_path / "full" / "teacher_checkpoints").exists()

    # killed in step 6 (5 done; the last checkpoint, 3, is mid-block: block [2, 4) has seen step 2), resumed
    with monkeypatch.context() as patch:
        kill_at_step(5, patch)
        with pytest.raises(KeyboardInterrupt):
            loop.train_and_evaluate(config, tmp_path / "resumed")
    loop.train_and_evaluate(config, tmp_path / "resumed")
    assert _teacher_records(tmp_path / "resumed") == records

    # the same workdir with other teacher groups: stopped by the saved group digest before any array is read
    other = config.copy_and_resolve_references()
    other.teacher.num_groups = 3
    with pytest.raises(ValueError, match="the saved pipeline state was made with groups"):
        loop.train_and_evaluate(other, tmp_path / "resumed", allow_config_change=True)
    assert not run_config.config_history(tmp_path / "resumed")  # a refused resume records nothing
