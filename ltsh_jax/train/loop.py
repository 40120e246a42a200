"""train_and_evaluate(config, workdir): the student's training loop.

Host work per step: take this process's slice of the batch (`Pipeline.batch`, prefetched), hand it
to the one jitted step. Every `log_every` steps the metrics come back to the host (metrics.jsonl,
TensorBoard, progress bar); every `checkpoint_every` steps the state is saved, with the input
pipeline's group schedule in its meta.
Batches are a function of (seed, step, group schedule), so a run killed and resumed from its last
checkpoint reproduces the uninterrupted run exactly. Non-finite updates are skipped on device and
counted; a state is saved only once its parameters gave a finite loss on its batch (train/health.py),
so the checkpoint a stopped run names as good really is.
With config.teacher.enabled, a `hook.TeacherHook` sees every step's batch and metrics, chooses
the synthetic group every N steps (its records go to metrics.jsonl); its state is saved as items of
the same checkpoint as the student's (ltsh_jax/checkpoints.py).
The workdir (and config.init_from) may be a local folder or a cloud URI such as `gs://bucket/run`: every
file of the run goes through etils.epath (ltsh_jax/paths.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import jax
import ml_collections
import numpy as np
import tqdm

from ltsh_jax import distributed, paths, sharding
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.data import sources
from ltsh_jax.data.augment import AugmentParams
from ltsh_jax.data.pipeline import Pipeline
from ltsh_jax.metrics import MetricsWriter, plot_losses
from ltsh_jax.models.openpose import build_model, get_skeleton, init_params
from ltsh_jax.models.vgg_weights import check_backbone_init, init_backbone
from ltsh_jax.skeleton import Skeleton
from ltsh_jax.teacher import hook
from ltsh_jax.train import health, input_record, optim, run_config
from ltsh_jax.train.config_checks import ConfigError, check_training_config
from ltsh_jax.train.step import create_train_state, make_eval_step, make_train_step


def augment_params(config: ml_collections.ConfigDict) -> AugmentParams:
    """AugmentParams from config.data.augment and the crop size."""
    return AugmentParams(crop_size=config.data.input_size, **config.data.augment.to_dict())


def _pipeline_args(config: ml_collections.ConfigDict, skeleton: Skeleton, rows: np.ndarray | None) -> dict:
    """The Pipeline arguments shared by the training and the held-out batches (this process's `rows`)."""
    data = config.data
    return dict(
        batch_size=config.train.batch_size,
        params=augment_params(config),
        skeleton=skeleton,
        max_people=data.max_people,
        stride=data.stride,
        sigma=config.targets.sigma,
        paf_width=config.targets.paf_width,
        rows=rows,
        num_workers=data.num_workers,
    )


def make_pipeline(config: ml_collections.ConfigDict, skeleton: Skeleton, rows: np.ndarray | None = None) -> Pipeline:
    """The training batches of config.data: the real source (config.data.source 'mpii_json' or 'tfds') and,
    when config.data.synthetic.source is set, a synthetic one filling 1 - real_fraction of every batch.
    rows: the global batch rows this process makes (None: all)."""
    data = config.data
    real = sources.open_source(data, "config.data")
    synthetic = sources.open_source(data.synthetic, "config.data.synthetic") if data.synthetic.source else None
    return Pipeline(
        real,
        synthetic,
        seed=config.seed,
        real_fraction=data.real_fraction,
        synthetic_people=data.synthetic.people,
        prefetch=data.prefetch,
        **_pipeline_args(config, skeleton, rows),
    )


def held_out_batches(config: ml_collections.ConfigDict, skeleton: Skeleton, pipeline: Pipeline) -> list[dict]:
    """config.data.eval_batches un-augmented real batches: from config.data.eval_split (tfds) when set,
    else from the training pipeline's real source with another seed."""
    data = config.data
    real = pipeline.sources[0]
    if data.source == "tfds" and data.eval_split:
        real = sources.TfdsSource.load(data.name, data.eval_split, data.data_dir, data.builder_config or None)
    held_out = Pipeline(
        real, None, seed=config.seed + 1, augment=False, prefetch=0, **_pipeline_args(config, skeleton, pipeline.rows)
    )
    try:
        return [held_out.batch(i) for i in range(data.eval_batches)]
    finally:
        held_out.close()


def _make_teacher_hook(config, pipeline: Pipeline, workdir, mesh) -> hook.TeacherHook | None:
    """The teacher (ltsh_jax/teacher/hook.py) when config.teacher.enabled: checks its config and groups now."""
    if not config.teacher.enabled:
        return None
    try:
        return hook.TeacherHook(config, pipeline, workdir, mesh, announce=_announce)
    except Exception:
        pipeline.close()
        raise


def _initial_state(config, model, optimizer_factory, mesh, checkpointer, rng, extra_items: dict[str, Any]):
    """Fresh (or init_from / VGG-initialised) state, replaced by the latest checkpoint when there is one.

    Returns (state, optimizer, restored): `restored` holds the checkpoint's items named in
    `extra_items` (laid out like them), empty for a fresh run.
    """
    params = init_params(model, config, rng)
    latest = checkpointer.latest_step()
    if latest is None and not config.init_from:  # a fresh run from scratch: ImageNet VGG-19 (vgg_weights.py)
        params = init_backbone(params, config.model.vgg_weights, required=config.model.vgg_required)
    if latest is None and config.init_from:
        params = Checkpointer(paths.as_path(config.init_from) / "checkpoints").restore_params(params)
        _announce(f"initialised parameters from {config.init_from}")
    optimizer = optimizer_factory(params)
    replicated = sharding.replicated(mesh)
    params = jax.device_put(params, replicated)
    opt_state = jax.device_put(optimizer.init(params), replicated)
    step, restored, meta = 0, {}, {}
    if latest is not None:
        restored, meta = checkpointer.restore(latest, {"params": params, "opt_state": opt_state, **extra_items})
        params, opt_state = restored.pop("params"), restored.pop("opt_state")
        step = int(meta["step"])
        _announce(f"resumed from step {step} in {checkpointer.directory}")
    state = create_train_state(
        params, optimizer, step=step, opt_state=opt_state, mesh=mesh,
        skipped=meta.get("skipped_updates", 0), skip_streak=meta.get("skip_streak", 0),
    )  # fmt: skip
    return state, optimizer, restored


@contextlib.contextmanager
def _stage(what: str) -> Iterator[None]:
    """Announces `what` with the seconds it took, so that the first minute of a run is not silent."""
    start = time.perf_counter()
    yield
    _announce(f"[start-up] {what} in {time.perf_counter() - start:.1f} s")


def _announce(message: str) -> None:
    """A line for the person watching (chief process only), printed above the progress bar."""
    if distributed.is_chief():
        tqdm.tqdm.write(message)


def _mean_eval_loss(eval_step, params, batches, mesh, rows: np.ndarray) -> float:
    return float(np.mean([float(eval_step(params, sharding.global_batch(b, mesh, rows))) for b in batches]))


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str | os.PathLike, *, allow_config_change: bool = False
) -> dict:
    """Trains the student described by `config`, writing checkpoints and metrics under `workdir`.

    Returns the last metrics record. Resumes from the latest checkpoint in workdir when there is one; a
    config other than the run's (WORKDIR/config.json) is refused unless `allow_config_change`, which records
    the change in the file's config_history (train/run_config.py).
    """
    workdir = paths.as_path(workdir)  # a gs:// URI stays one (pathlib would make a local folder "gs:")
    check_training_config(config)  # before any data is read
    distributed.check_same_everywhere("the config or workdir", {"config": config.to_dict(), "workdir": str(workdir)})
    run_config.check_resume(config, workdir, allow_config_change)
    is_chief = distributed.is_chief()
    skeleton = get_skeleton(config)
    if not config.init_from and not (workdir / "checkpoints").is_dir():  # a fresh run: its weights file, first
        check_backbone_init(config.model.vgg_weights, required=config.model.vgg_required)
    mesh = sharding.make_mesh()
    rows = sharding.process_rows(mesh, config.train.batch_size)  # this process's rows of every batch
    with _stage("data: sources opened, people indexed"):
        pipeline = make_pipeline(config, skeleton, rows)
        teacher_hook = _make_teacher_hook(config, pipeline, workdir, mesh)  # None unless config.teacher.enabled
    if is_chief:  # only once the data has loaded: a bad config leaves no workdir behind
        workdir.mkdir(parents=True, exist_ok=True)
    model = build_model(config, skeleton)
    checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=config.train.max_checkpoints)
    if (checkpointer.latest_step() or 0) > config.train.num_steps:
        pipeline.close()
        raise ConfigError(
            f"config.train.num_steps={config.train.num_steps} is below the step this run has reached "
            f"({checkpointer.latest_step()} in {checkpointer.directory})"
        )
    if (latest := checkpointer.latest_step()) is not None:  # first the groups: a run with others stops here
        pipeline.restore(checkpointer.meta(latest)["input_pipeline"])
    with _stage("model: parameters initialised or restored"):
        state, optimizer, restored = _initial_state(
            config,
            model,
            lambda params: optim.make_student_optimizer(config.optim, params),
            mesh,
            checkpointer,
            jax.random.key(config.seed),
            teacher_hook.checkpoint_items() if teacher_hook is not None else {},
        )
    if teacher_hook is not None:
        teacher_hook.start(int(state.step), restored or None)
    schedule = optim.learning_rate_schedule(config.optim)
    train_step = make_train_step(model, optimizer, config, mesh, skeleton)
    eval_step = make_eval_step(model, config, mesh, skeleton)
    eval_data = []
    if config.train.eval_every:
        with _stage(f"held-out batches: {config.data.eval_batches} made"):
            eval_data = held_out_batches(config, skeleton, pipeline)

    start = int(state.step)
    num_steps = config.train.num_steps
    if is_chief:  # once the checkpoint and its groups are known to fit: a refused resume records nothing
        run_config.record_run_config(config, workdir, start, allow_config_change)
    last_good = checkpointer.latest_step()
    writer = MetricsWriter(workdir, enabled=is_chief, resume_step=start)
    recorder = input_record.InputRecorder(workdir, enabled=bool(config.train.get("record_inputs", False)))
    record: dict = {}
    bar = tqdm.tqdm(total=num_steps, initial=start, desc="train", unit="step", disable=not is_chief, mininterval=2)
    window_start, window_steps = time.perf_counter(), 0
    try:
        for step in range(start, num_steps):
            batch = pipeline.batch(step)
            recorder.batch(step, rows, batch)
            global_batch = sharding.global_batch(batch, mesh, rows)
            if step == start:
                with _stage("compile: train step compiled and run once"):
                    state, metrics = jax.block_until_ready(train_step(state, global_batch))
            else:
                state, metrics = train_step(state, global_batch)
            if teacher_hook is not None and (teacher_record := teacher_hook.after_step(step, global_batch, metrics)):
                writer.write(step + 1, teacher_record)
                recorder.teacher(step + 1, teacher_record["teacher_group"], teacher_hook.state.inputs)
            done, window_steps = step + 1, window_steps + 1
            eval_now = config.train.eval_every and (done % config.train.eval_every == 0 or done == num_steps)
            log_now = eval_now or done == 1 or done % config.train.log_every == 0 or done == num_steps
            save_now = done % config.train.checkpoint_every == 0 or done == num_steps
            if log_now or save_now:
                host = jax.device_get(metrics)
                health.check_skip_streak(
                    int(host["skip_streak"]), int(host["skipped_updates"]), done, config.train.max_skip_streak,
                    last_good, checkpointer.directory,
                )  # fmt: skip
            if log_now:
                elapsed = time.perf_counter() - window_start
                record = {
                    "loss": host["loss"],
                    "stage_losses": host["stage_losses"],
                    "real_loss_per_joint": host["real_loss_per_joint"],
                    "synthetic_loss_per_joint": host["synthetic_loss_per_joint"],
                    "grad_norm": host["grad_norm"],
                    "skipped_updates": host["skipped_updates"],
                    "lr": schedule(step),
                    "examples_per_sec": window_steps * config.train.batch_size / max(elapsed, 1e-9),
                }
                if eval_now:
                    record["eval_loss"] = _mean_eval_loss(eval_step, state.params, eval_data, mesh, rows)
                record = writer.write(done, record)
                bar.set_postfix(loss=f"{float(host['loss']):.4g}")
                window_start, window_steps = time.perf_counter(), 0
            if save_now:
                loss_now = float(eval_step(state.params, global_batch))  # the parameters about to be saved
                health.check_saveable(loss_now, done, last_good, checkpointer.directory)
                items = {"params": state.params, "opt_state": state.opt_state}
                if teacher_hook is not None:
                    items.update(teacher_hook.checkpoint_items())
                meta = {"step": done, "input_pipeline": pipeline.state()}
                meta.update(skipped_updates=int(host["skipped_updates"]), skip_streak=int(host["skip_streak"]))
                checkpointer.save(done, items, meta)
                last_good = done
            bar.update(1)
    finally:
        pipeline.close()
        bar.close()
        checkpointer.wait()
        checkpointer.close()
        writer.close()
    if is_chief:
        plot_losses(workdir)
        if teacher_hook is not None:
            hook.plot_probs(workdir)
        paths.write_atomically(workdir / "final_metrics.json", json.dumps(record, indent=2) + "\n")
    return record
