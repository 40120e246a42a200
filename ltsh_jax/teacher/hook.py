"""The teacher side of training: watch the student, judge the last group, choose the next, steer the pipeline.

Timeline with N = config.teacher.every_n. Block 0 (steps [0, N)) draws synthetic crops from all
samples: its mean synthetic loss per joint is the first history entry (the uniform baseline). Every
student step s, one jitted `add_step` over the mesh adds the step's synthetic loss to the block's
running sum and keeps the k hardest real crops of the block so far (highest per-sample loss per joint;
ties go to the earlier crop: earlier step, then lower global slot). At the end of block b (after
student step (b+1)N - 1) one jitted `block_step`:
  1. judges the choice made for block b: L_b = mean synthetic loss per joint over the block, delta by
     Eq. 1 against the last H values, teacher gradient of KL(P || P~) on the input that made the
     choice, teacher Adam step (`ltsh_jax.teacher.update.teacher_optimizer`);
  2. feeds the k hardest real crops of block b to the updated teacher; their logits are averaged
     into one P~ over the groups (k = 1 in the paper);
  3. draws the next group from P~, or uniformly over the non-empty groups with probability eps.
The host then tells the pipeline: that group from step (b+1)N, decided until (b+2)N.

On N hosts (multi-process JAX) every host runs the same calls on global arrays: `add_step` reads the
step's global batch (images sharded over the 'data' axis) and writes a block REPLICATED over the
mesh, so XLA brings the k chosen crops from whichever host holds them to every device. The teacher's
state is replicated too, so every host computes the same P~ and draws the same group; the hook
checks that (`check_same_group`) at each block end. The host reads only replicated arrays, and only
at block ends (the group, P~, the block's loss sum): there is no per-step host sync. Process 0
alone writes WORKDIR/groups.json and announces.

Group sizes and bin edges go to the log at start-up and to WORKDIR/groups.json, with the groups too
small to be drawn (fewer samples than config.teacher.min_group_size, by default the synthetic slots of
one batch; groups.py).
State for resume, two items of the student's checkpoint (`checkpoint_items`, ltsh_jax/checkpoints.py),
both replicated jax arrays that orbax saves from every process and restores into the same layout:
'teacher' (`TeacherState`: params, optimizer state holding the loss history, rng, current group, the
crops behind the current choice) and 'teacher_block' (`BlockState`: the running block's loss sum and
count, best crops so far with their losses and keys). A resumed run therefore draws the same group
sequence as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from etils import epath
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from ltsh_jax import paths, plots, sharding
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
# Key of a best-crop slot that holds no crop yet (every real crop's key is >= 0, so it ranks first among equals).
NO_CROP = -1


@flax.struct.dataclass
class TeacherState:
    """The teacher's device state; `inputs` are the uint8 crops that produced the current choice `group`."""

    params: dict
    opt_state: optax.OptState
    rng: jax.Array  # uint32 [2] (raw key data: saved and restored like any array)
    group: jax.Array  # int32 scalar
    inputs: jax.Array  # uint8 [k, S, S, 3]


@flax.struct.dataclass
class BlockState:
    """The running block on device: its synthetic loss sum and count, and its k hardest real crops so far.

    The best crops are kept hardest first. A crop's key is (step - block start) * B + its global slot,
    which orders the crops of a block by (step, slot): the tie-break that keeps the earlier crop.
    """

    synthetic_sum: jax.Array  # float32 scalar: sum of the steps' synthetic loss per joint
    synthetic_count: jax.Array  # int32 scalar: steps added
    best_losses: jax.Array  # float32 [k], descending; -inf where no crop yet
    best_keys: jax.Array  # int32 [k]; NO_CROP where no crop yet
    best_images: jax.Array  # uint8 [k, S, S, 3]; zeros where no crop yet


def empty_block(k: int, crop: int) -> BlockState:
    """A block before its first step (host arrays: put them on the mesh with `jax.device_put`)."""
    return BlockState(
        synthetic_sum=np.float32(0.0),
        synthetic_count=np.int32(0),
        best_losses=np.full(k, -np.inf, np.float32),
        best_keys=np.full(k, NO_CROP, np.int32),
        best_images=np.zeros((k, crop, crop, 3), np.uint8),
    )


def hardest_first(losses: jax.Array, keys: jax.Array) -> jax.Array:
    """Indices that order the candidates by loss descending, ties by key ascending, NaN losses last.

    NaN last: a crop whose loss is not a number says nothing about its hardness (the former host code, a
    stable argsort of -loss, put them last too).
    """
    nan = jnp.isnan(losses)
    return jnp.lexsort((keys, jnp.where(nan, 0.0, -losses), nan.astype(jnp.int32)))


def add_step(block: BlockState, images: jax.Array, is_synthetic: jax.Array, sample_loss: jax.Array,
             synthetic_loss: jax.Array, offset: jax.Array) -> BlockState:  # fmt: skip
    """The block after one student step: images uint8 [B, S, S, 3], is_synthetic bool [B] and sample_loss
    float [B] of the step's global batch, its synthetic loss per joint, `offset` = step - block start.

    Candidates are the current best k and the step's rows, synthetic ones at loss -inf (their keys are >= 0,
    so they never displace a real crop or an empty slot); the k hardest stay. Only their k images are
    gathered from the (possibly sharded) batch: XLA sends those rows, not the batch, to every device.
    """
    batch, k = images.shape[0], block.best_losses.shape[0]
    losses = jnp.where(is_synthetic, -jnp.inf, sample_loss.astype(jnp.float32))
    keys = jnp.asarray(offset, jnp.int32) * batch + jnp.arange(batch, dtype=jnp.int32)
    all_losses = jnp.concatenate([block.best_losses, losses])
    all_keys = jnp.concatenate([block.best_keys, keys])
    order = hardest_first(all_losses, all_keys)[:k]
    kept = block.best_images[jnp.minimum(order, k - 1)]
    new = images[jnp.maximum(order - k, 0)]
    return BlockState(
        synthetic_sum=block.synthetic_sum + jnp.asarray(synthetic_loss, jnp.float32),
        synthetic_count=block.synthetic_count + 1,
        best_losses=all_losses[order],
        best_keys=all_keys[order],
        best_images=jnp.where((order < k)[:, None, None, None], kept, new),
    )


def make_add_step(mesh: Mesh) -> Callable[..., BlockState]:
    """`add_step` jitted over `mesh`: the block (donated) comes back replicated, whatever the batch's sharding."""
    return jax.jit(add_step, out_shardings=sharding.replicated(mesh), donate_argnums=(0,))


def check_config(cfg: ml_collections.ConfigDict) -> None:
    """ValueError naming the config.teacher field that is out of range."""
    update.check_fraction(cfg.eps, "config.teacher.eps")
    update.check_fraction(cfg.alpha, "config.teacher.alpha")
    for field in ("every_n", "hardest_k", "history", "input_size"):
        if int(cfg[field]) < 1:
            raise ValueError(f"config.teacher.{field}={cfg[field]} must be >= 1")
    if not cfg.learning_rate > 0 or not cfg.width > 0:
        raise ValueError(f"config.teacher.learning_rate={cfg.learning_rate} and width={cfg.width} must be > 0")


def check_keys_fit(every_n: int, batch_size: int) -> None:
    """ValueError when the crop keys of a block (every_n * batch_size of them) do not fit in int32 (no x64)."""
    if every_n * batch_size > np.iinfo(np.int32).max:
        raise ValueError(f"config.teacher.every_n={every_n} times train.batch_size={batch_size} crops per block "
                         "overflow the int32 crop keys: lower every_n")  # fmt: skip


def min_group_size(cfg: ml_collections.ConfigDict, synthetic_slots: int) -> int:
    """config.teacher.min_group_size, or when it is 0 the synthetic slots of one (global) batch."""
    size = int(cfg.get("min_group_size", 0))
    if size < 0:
        raise ValueError(f"config.teacher.min_group_size={size} must be >= 0 (0: the synthetic slots of a batch)")
    return size or synthetic_slots


def make_block_step(
    model: Teacher,
    optimizer: optax.GradientTransformationExtraArgs,
    mask: np.ndarray,
    cfg: ml_collections.ConfigDict,
    mesh: Mesh,
) -> Callable:
    """The jitted (state, synthetic_loss, new_inputs uint8 [k, S, S, 3]) -> (state, info) of one block end,
    everything replicated over `mesh` (every host computes the same step)."""
    mask = np.asarray(mask, bool)  # a constant of the computation, the same on every host
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

    replicated = sharding.replicated(mesh)
    return jax.jit(block_step, in_shardings=replicated, out_shardings=replicated, donate_argnums=(0,))


def check_same_group(step: int, group: int) -> None:
    """RuntimeError when the processes drew different groups at the block end `step` (their teacher states
    diverged); a collective, so every process calls it. On one process it checks the group against itself."""
    drawn = np.asarray(multihost_utils.process_allgather(np.int32(group))).reshape(-1)
    if (drawn != group).any():
        raise RuntimeError(f"teacher block ending at step {step}: the processes drew different groups "
                           f"{drawn.tolist()} (process i at index i); their teacher states have diverged")  # fmt: skip


class TeacherHook:
    """Created by train.loop when config.teacher.enabled; see the module docstring for what it does when."""

    def __init__(self, config: ml_collections.ConfigDict, pipeline: Pipeline, workdir: str | os.PathLike,
                 mesh: Mesh, announce: Callable[[str], None] = print):  # fmt: skip
        cfg = config.teacher
        check_config(cfg)
        if pipeline.synthetic_index is None:
            raise ValueError("config.teacher.enabled needs a synthetic source (config.data.synthetic.source)")
        real = sampling.real_slots(config.train.batch_size, config.data.real_fraction)
        if not real.any() or real.all():
            raise ValueError(f"config.data.real_fraction={config.data.real_fraction} with batch size "
                             f"{config.train.batch_size} leaves no real or no synthetic slot: the teacher needs "
                             "both")  # fmt: skip
        if int(cfg.hardest_k) > int(real.sum()) * int(cfg.every_n):
            raise ValueError(f"config.teacher.hardest_k={cfg.hardest_k} exceeds the real crops of a block")
        check_keys_fit(int(cfg.every_n), int(config.train.batch_size))
        min_size = min_group_size(cfg, int((~real).sum()))
        self.grouping = groups.make_grouping(pipeline.synthetic_index, cfg.grouping, cfg.num_groups, min_size)
        self.is_chief = jax.process_index() == 0
        if self.is_chief:
            announce(groups.describe(self.grouping))
        self.cfg, self.pipeline, self.every_n, self.k = cfg, pipeline, int(cfg.every_n), int(cfg.hardest_k)
        self.crop, self.workdir = int(config.data.input_size), paths.as_path(workdir)
        self.replicated = sharding.replicated(mesh)
        pipeline.set_groups(self.grouping.members)
        self.model = Teacher(self.grouping.num_groups, width=float(cfg.width))
        self.optimizer = update.teacher_optimizer(float(cfg.learning_rate), int(cfg.history))
        self.block_step = make_block_step(self.model, self.optimizer, self.grouping.mask, cfg, mesh)
        self.add_step = make_add_step(mesh)
        params = init_teacher_params(self.model, int(cfg.input_size), int(cfg.seed))
        if cfg.vgg_weights:  # the teacher's own VGG-19, initialised from ImageNet like the student's
            params = load_vgg19_weights(params, cfg.vgg_weights)
        state = TeacherState(
            params=params,
            opt_state=self.optimizer.init(params),
            rng=jax.random.PRNGKey(int(cfg.seed) + 1),
            group=np.int32(0),
            inputs=np.zeros((self.k, self.crop, self.crop, 3), np.uint8),
        )
        self.state: TeacherState = jax.device_put(state, self.replicated)
        self.block: BlockState = self._empty_block()

    def _empty_block(self) -> BlockState:
        return jax.device_put(empty_block(self.k, self.crop), self.replicated)

    # --- called by the training loop --------------------------------------------------------------
    def start(self, step: int, restored: dict | None = None) -> None:
        """Fresh run (step 0): block 0 samples all groups; resumed run: `restored` holds the checkpoint's
        items named by `checkpoint_items` (saved at `step`)."""
        if step == 0:
            self.pipeline.set_group(None, 0, self.every_n)
            if self.is_chief:
                self._write_groups()
            return
        if restored is None:
            raise ValueError(f"resuming at step {step} needs the teacher items of that step's checkpoint")
        self.state = jax.device_put(restored[STATE_ITEM], self.replicated)
        self.block = jax.device_put(restored[BLOCK_ITEM], self.replicated)

    def _write_groups(self) -> None:
        """WORKDIR/groups.json: each group's size and bin edges (for reading the P~ plot)."""
        record = {"grouping": self.grouping.name, "sizes": self.grouping.sizes.tolist(),
                  "min_size": self.grouping.min_size, "drawable": self.grouping.mask.tolist(),
                  "edges": {k: v.tolist() for k, v in self.grouping.edges.items()}}  # fmt: skip
        paths.write_atomically(self.workdir / GROUPS_FILE, json.dumps(record, indent=2) + "\n")

    def after_step(self, step: int, batch: dict, metrics: dict) -> dict | None:
        """Records student step `step` (0-based) of the global batch `batch` (jax arrays 'image' and
        'is_synthetic', sharded over the mesh: `sharding.global_batch`) and its `metrics`; at a block end
        runs the teacher and returns its log record (on every process)."""
        self.block = self.add_step(self.block, batch["image"], batch["is_synthetic"],
                                   metrics["sample_loss_per_joint"], metrics["synthetic_loss_per_joint"],
                                   np.int32(step % self.every_n))  # fmt: skip
        done = step + 1
        return None if done % self.every_n else self._end_block(done)

    def _end_block(self, done: int) -> dict:
        """Runs the teacher on the finished block, tells the pipeline the next group, starts a new block."""
        # Replicated arrays: every process reads the same values.
        block = jax.device_get({"sum": self.block.synthetic_sum, "count": self.block.synthetic_count,
                                "losses": self.block.best_losses})  # fmt: skip
        synthetic_loss = np.float32(block["sum"]) / np.float32(max(int(block["count"]), 1))
        self.state, info = self.block_step(self.state, synthetic_loss, self.block.best_images)
        info = jax.device_get(info)
        group = int(info["group"])
        check_same_group(done, group)
        self.pipeline.set_group(group, done, done + self.every_n)
        self.block = self._empty_block()
        first = done == self.every_n  # block 0 sampled every group: nothing was judged
        return {
            PROBS_KEY: info["probs"],
            "teacher_group": group,
            "teacher_judged_group": -1 if first else int(info["judged_group"]),
            "teacher_delta": float(info["delta"]),
            "teacher_kl": float(info["kl"]),
            "teacher_synthetic_loss": float(synthetic_loss),
            "teacher_history_mean": float(info["history_mean"]),
            "teacher_hardest_real_loss": float(np.max(block["losses"])),
        }

    def checkpoint_items(self) -> dict:
        """The teacher's checkpoint items at the current step: its state and block, replicated jax arrays.

        Also the layout to restore into (`Checkpointer.restore(step, like)`).
        """
        return {STATE_ITEM: self.state, BLOCK_ITEM: self.block}


def plot_probs(workdir: str | os.PathLike) -> epath.Path | None:
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
    return plots.save_png(fig, paths.as_path(workdir) / "teacher_probs.png")
