"""The teacher side of training: watch the student, judge the last group, choose the next, steer the pipeline.

Timeline with N = config.teacher.every_n. Block 0 (steps [0, N)) draws synthetic crops from all
samples: its mean synthetic loss per joint is the first history entry (the uniform baseline). At the
end of block b (after student step (b+1)N - 1) one jitted `block_step`:
  1. judges the choice made for block b: L_b = mean synthetic loss per joint over the block, delta by
     Eq. 1 against the last H values, teacher gradient of KL(P || P~) on the input that made the
     choice, teacher Adam step (`ltsh_jax.teacher.update.teacher_optimizer`);
  2. feeds the k hardest real crops of block b (highest per-sample loss per joint) to the updated
     teacher; their logits are averaged into one P~ over the groups (k = 1 in the paper);
  3. draws the next group from P~, or uniformly over the non-empty groups with probability eps.
The host then tells the pipeline: that group from step (b+1)N, decided until (b+2)N.

The per-step work is lag-1: the per-sample losses of step s are read while step s + 1 runs, so the
host never waits on the device except at block ends (where the next group depends on them anyway).

Group sizes and bin edges go to the log at start-up and to WORKDIR/groups.json, with the groups too
small to be drawn (fewer samples than config.teacher.min_group_size, by default the synthetic slots of
one batch; groups.py).
State for resume, two items of the student's checkpoint (`checkpoint_items`, ltsh_jax/checkpoints.py):
'teacher' (params, optimizer state holding the loss history, rng, current group, the crops behind the
current choice) and 'teacher_block' (the running block: loss sum, count, best crops so far). A resumed
run therefore draws the same group sequence as an uninterrupted one.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from ltsh_jax import plots
from ltsh_jax.data import sampling
from ltsh_jax.data.pipeline import Pipeline
from ltsh_jax.metrics import read_metrics
from ltsh_jax.models.openpose import normalise_images
from ltsh_jax.models.teacher import Teacher, init_teacher_params
from ltsh_jax.models.vgg_weights import load_vgg19_weights
from ltsh_jax.teacher import groups, update

PROBS_KEY = "teacher_probs"
GROUPS_FILE = "groups.json"
# Checkpoint item names of the teacher's state and of its running block.
STATE_ITEM = "teacher"
BLOCK_ITEM = "teacher_block"


@flax.struct.dataclass
class TeacherState:
    """The teacher's device state; `inputs` are the uint8 crops that produced the current choice `group`."""

    params: dict
    opt_state: optax.OptState
    rng: jax.Array  # uint32 [2] (raw key data: saved and restored like any array)
    group: jax.Array  # int32 scalar
    inputs: jax.Array  # uint8 [k, S, S, 3]


def check_config(cfg: ml_collections.ConfigDict) -> None:
    """ValueError naming the config.teacher field that is out of range."""
    update.check_fraction(cfg.eps, "config.teacher.eps")
    update.check_fraction(cfg.alpha, "config.teacher.alpha")
    for field in ("every_n", "hardest_k", "history", "input_size"):
        if int(cfg[field]) < 1:
            raise ValueError(f"config.teacher.{field}={cfg[field]} must be >= 1")
    if not cfg.learning_rate > 0 or not cfg.width > 0:
        raise ValueError(f"config.teacher.learning_rate={cfg.learning_rate} and width={cfg.width} must be > 0")


def min_group_size(cfg: ml_collections.ConfigDict, synthetic_slots: int) -> int:
    """config.teacher.min_group_size, or when it is 0 the synthetic slots of one (global) batch."""
    size = int(cfg.get("min_group_size", 0))
    if size < 0:
        raise ValueError(f"config.teacher.min_group_size={size} must be >= 0 (0: the synthetic slots of a batch)")
    return size or synthetic_slots


def make_block_step(
    model: Teacher, optimizer: optax.GradientTransformationExtraArgs, mask: np.ndarray, cfg: ml_collections.ConfigDict
) -> Callable:
    """The jitted (state, synthetic_loss, new_inputs uint8 [k, S, S, 3]) -> (state, info) of one block end."""
    mask = jnp.asarray(mask)
    size, alpha, eps = int(cfg.input_size), float(cfg.alpha), float(cfg.eps)

    def logits_fn(params, images):
        x = normalise_images(images)
        if x.shape[1:3] != (size, size):
            x = jax.image.resize(x, (x.shape[0], size, size, 3), "linear")
        return jnp.mean(model.apply({"params": params}, x), axis=0)

    def block_step(state: TeacherState, synthetic_loss, new_inputs):
        def loss_fn(params):
            logits = logits_fn(params, state.inputs)
            return update.reward_loss(logits, state.group, alpha, mask), logits

        grads, old_logits = jax.grad(loss_fn, has_aux=True)(state.params)
        history = update.reward_state(state.opt_state)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params, synthetic_loss=synthetic_loss)
        params = optax.apply_updates(state.params, updates)
        delta = update.last_delta(opt_state)
        old_probs = update.masked_probs(old_logits, mask)
        kl = update.kl_divergence(update.pseudo_target(old_probs, state.group, delta, alpha, mask), old_logits, mask)
        probs = update.masked_probs(logits_fn(params, new_inputs), mask)
        rng, key = jax.random.split(state.rng)
        group = update.choose_group(key, probs, mask, eps)
        info = {
            "probs": probs,
            "group": group,
            "judged_group": state.group,
            "delta": delta,
            "kl": kl,
            "history_mean": jnp.sum(history.history) / jnp.maximum(history.count, 1),
        }
        new_state = TeacherState(params=params, opt_state=opt_state, rng=rng, group=group, inputs=new_inputs)
        return new_state, info

    return jax.jit(block_step, donate_argnums=(0,))


class TeacherHook:
    """Created by train.loop when config.teacher.enabled; see the module docstring for what it does when."""

    def __init__(self, config: ml_collections.ConfigDict, pipeline: Pipeline, workdir: str | pathlib.Path,
                 announce: Callable[[str], None] = print):  # fmt: skip
        cfg = config.teacher
        check_config(cfg)
        if jax.process_count() > 1:
            raise NotImplementedError("the teacher runs on one process only (its input crop is process-local)")
        if pipeline.synthetic_index is None:
            raise ValueError("config.teacher.enabled needs a synthetic source (config.data.synthetic.source)")
        real = sampling.real_slots(config.train.batch_size, config.data.real_fraction)
        if not real.any() or real.all():
            raise ValueError(f"config.data.real_fraction={config.data.real_fraction} with batch size "
                             f"{config.train.batch_size} leaves no real or no synthetic slot: the teacher needs "
                             "both")  # fmt: skip
        if int(cfg.hardest_k) > int(real.sum()) * int(cfg.every_n):
            raise ValueError(f"config.teacher.hardest_k={cfg.hardest_k} exceeds the real crops of a block")
        min_size = min_group_size(cfg, int((~real).sum()))
        self.grouping = groups.make_grouping(pipeline.synthetic_index, cfg.grouping, cfg.num_groups, min_size)
        announce(groups.describe(self.grouping))
        self.cfg, self.pipeline, self.every_n, self.k = cfg, pipeline, int(cfg.every_n), int(cfg.hardest_k)
        self.crop, self.workdir = int(config.data.input_size), pathlib.Path(workdir)
        pipeline.set_groups(self.grouping.members)
        self.model = Teacher(self.grouping.num_groups, width=float(cfg.width))
        self.optimizer = update.teacher_optimizer(float(cfg.learning_rate), int(cfg.history))
        self.block_step = make_block_step(self.model, self.optimizer, self.grouping.mask, cfg)
        size = int(cfg.input_size)
        params = init_teacher_params(self.model, size, int(cfg.seed))
        if cfg.vgg_weights:  # the teacher's own VGG-19, initialised from ImageNet like the student's
            params = load_vgg19_weights(params, cfg.vgg_weights)
        self.state = TeacherState(
            params=params,
            opt_state=self.optimizer.init(params),
            rng=jax.random.PRNGKey(int(cfg.seed) + 1),
            group=jnp.zeros((), jnp.int32),
            inputs=jnp.zeros((self.k, self.crop, self.crop, 3), jnp.uint8),
        )
        self._reset_block()
        self._pending: list[tuple[np.ndarray, jax.Array, jax.Array, np.ndarray]] = []

    # --- block accumulators -----------------------------------------------------------------------
    def _reset_block(self) -> None:
        self.synthetic_sum, self.synthetic_count = np.float32(0.0), 0
        self.best_losses = np.full(self.k, -np.inf, np.float32)
        self.best_images = np.zeros((self.k, self.crop, self.crop, 3), np.uint8)

    def _consume(self, entry) -> None:
        """Adds one step's synthetic loss and real crops to the block (keeping the k hardest crops)."""
        is_synthetic, per_sample, synthetic_loss, images = entry
        real = np.flatnonzero(~is_synthetic)
        losses = np.asarray(jax.device_get(per_sample), np.float32)[real]
        self.synthetic_sum = np.float32(self.synthetic_sum + np.float32(jax.device_get(synthetic_loss)))
        self.synthetic_count += 1
        all_losses = np.concatenate([self.best_losses, losses])
        order = np.argsort(-all_losses, kind="stable")[: self.k]  # ties keep the earlier crop
        kept = [self.best_images[i] if i < self.k else images[real[i - self.k]] for i in order]
        self.best_images, self.best_losses = np.stack(kept), all_losses[order]

    def _flush(self) -> None:
        while self._pending:
            self._consume(self._pending.pop(0))

    # --- called by the training loop --------------------------------------------------------------
    def start(self, step: int, restored: dict | None = None) -> None:
        """Fresh run (step 0): block 0 samples all groups; resumed run: `restored` holds the checkpoint's
        items named by `checkpoint_items` (saved at `step`)."""
        if step == 0:
            self.pipeline.set_group(None, 0, self.every_n)
            self._write_groups()
            return
        if restored is None:
            raise ValueError(f"resuming at step {step} needs the teacher items of that step's checkpoint")
        self.state = restored[STATE_ITEM]
        block = restored[BLOCK_ITEM]
        self.synthetic_sum = np.float32(block["synthetic_sum"])
        self.synthetic_count = int(block["synthetic_count"])
        self.best_losses = np.asarray(block["best_losses"], np.float32)
        self.best_images = np.asarray(block["best_images"], np.uint8)

    def _write_groups(self) -> None:
        """WORKDIR/groups.json: each group's size and bin edges (for reading the P~ plot)."""
        record = {"grouping": self.grouping.name, "sizes": self.grouping.sizes.tolist(),
                  "min_size": self.grouping.min_size, "drawable": self.grouping.mask.tolist(),
                  "edges": {k: v.tolist() for k, v in self.grouping.edges.items()}}  # fmt: skip
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / GROUPS_FILE).write_text(json.dumps(record, indent=2) + "\n")

    def after_step(self, step: int, batch: dict, metrics: dict) -> dict | None:
        """Records student step `step` (0-based); at a block end runs the teacher and returns its log record."""
        is_synthetic = np.asarray(batch["is_synthetic"], bool)
        self._pending.append((is_synthetic, metrics["sample_loss_per_joint"], metrics["synthetic_loss_per_joint"],
                              batch["image"]))  # fmt: skip
        while len(self._pending) > 1:
            self._consume(self._pending.pop(0))
        done = step + 1
        if done % self.every_n:
            return None
        self._flush()
        synthetic_loss = float(self.synthetic_sum / np.float32(max(self.synthetic_count, 1)))
        hardest = float(self.best_losses.max())
        self.state, info = self.block_step(self.state, np.float32(synthetic_loss), jnp.asarray(self.best_images))
        info = jax.device_get(info)
        group = int(info["group"])
        self.pipeline.set_group(group, done, done + self.every_n)
        self._reset_block()
        first = done == self.every_n  # block 0 sampled every group: nothing was judged
        return {
            PROBS_KEY: info["probs"],
            "teacher_group": group,
            "teacher_judged_group": -1 if first else int(info["judged_group"]),
            "teacher_delta": float(info["delta"]),
            "teacher_kl": float(info["kl"]),
            "teacher_synthetic_loss": synthetic_loss,
            "teacher_history_mean": float(info["history_mean"]),
            "teacher_hardest_real_loss": hardest,
        }

    def checkpoint_items(self) -> dict:
        """The teacher's checkpoint items at the current step (pending step folded in): its state and block.

        Also the layout to restore into (`Checkpointer.restore(step, like)`).
        """
        self._flush()
        block = {
            "synthetic_sum": np.asarray(self.synthetic_sum, np.float32),
            "synthetic_count": np.asarray(self.synthetic_count, np.int32),
            "best_losses": self.best_losses,
            "best_images": self.best_images,
        }
        return {STATE_ITEM: self.state, BLOCK_ITEM: block}


def plot_probs(workdir: str | pathlib.Path) -> pathlib.Path | None:
    """Writes WORKDIR/teacher_probs.png: P~ as a groups x teacher-step heatmap; None without teacher records."""
    records = [r for r in read_metrics(workdir) if PROBS_KEY in r]
    if not records:
        return None
    plt = plots.pyplot()

    probs = np.array([r[PROBS_KEY] for r in records], np.float64).T  # [G, T]
    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(8, 0.3 * probs.shape[0] + 2))
    image = ax.imshow(probs, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                      extent=(steps[0] - 0.5, steps[-1] + 0.5, -0.5, probs.shape[0] - 0.5))  # fmt: skip
    chosen = [r["teacher_group"] for r in records]
    ax.plot(steps, chosen, "w.", markersize=3, label="chosen group")
    ax.set_xlabel("student step")
    ax.set_ylabel("group")
    ax.set_title("teacher P~ over training")
    fig.colorbar(image, ax=ax, label="P~")
    ax.legend(loc="upper right", fontsize="small")
    path = pathlib.Path(workdir) / "teacher_probs.png"
    return plots.save_png(fig, path)
