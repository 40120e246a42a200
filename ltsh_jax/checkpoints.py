"""One orbax checkpoint per saved step holding every piece of training state as a named item.

Items: 'params' and 'opt_state' (the student), 'teacher' and 'teacher_block' (the teacher's state and
its running block, only with config.teacher.enabled), each an orbax pytree, and 'meta' (JSON: step and
the input pipeline's state). All items of a step are written in one atomic save, so a kill leaves
either the whole step or none of it. 'params' alone is enough to start a new run or to evaluate.

Old layout (before the teacher joined this checkpoint): the teacher lived in a second checkpoint series
in WORKDIR/teacher_checkpoints. Its student items are the same, so `restore_params` still reads it;
resuming a teacher run from it fails with a one-line message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath

from ltsh_jax import paths

META = "meta"
# The second checkpoint series of the old layout, next to `checkpoints/`.
OLD_TEACHER_DIR = "teacher_checkpoints"


def _abstract(tree):
    """Shape/dtype/sharding skeleton of a tree of arrays, for restoring into the same layout. Leaves without a
    sharding (shapes from jax.eval_shape) go to this process's first device: orbax would otherwise take the
    saved sharding, which names the devices of the run that wrote it (a checkpoint of 2 processes read in 1)."""
    here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

    def leaf(x):
        struct = ocp.utils.to_shape_dtype_struct(x)
        if getattr(struct, "sharding", None) is None:
            struct = jax.ShapeDtypeStruct(struct.shape, struct.dtype, sharding=here)
        return struct

    return jax.tree_util.tree_map(leaf, tree)


class OldLayoutError(ValueError):
    """A checkpoint written before the teacher moved into the student's checkpoint."""


class ShapeMismatchError(ValueError):
    """A checkpoint's arrays are not those the config builds (another width, stage count or skeleton)."""


def _shapes(tree) -> dict[str, tuple[int, ...]]:
    """{'a/b/c': shape} of a tree whose leaves have a `.shape` (arrays, orbax ArrayMetadata)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): tuple(leaf.shape)
            for path, leaf in leaves}  # fmt: skip


def shape_differences(saved, wanted) -> list[str]:
    """One phrase per array that is missing, extra or of another shape in `saved` compared with `wanted`."""
    a, b = _shapes(saved), _shapes(wanted)
    out = [f"{k}: {a[k]} saved, {b[k]} wanted" for k in a.keys() & b.keys() if a[k] != b[k]]
    out += [f"{k}: saved, not wanted" for k in a.keys() - b.keys()]
    out += [f"{k}: wanted, not saved" for k in b.keys() - a.keys()]
    return sorted(out)


class Checkpointer:
    """Saves and restores named pytree items plus a JSON 'meta' under `directory`, keeping the newest
    `max_to_keep` steps.

    In a multi-process run every process must make the same calls (orbax synchronises them), except with
    `only_this_process`: a reader used by one process alone (process 0 evaluating after training).
    `directory` may be a local folder or a cloud URI (`gs://bucket/run/checkpoints`, ltsh_jax.paths).
    """

    def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3, *, only_this_process: bool = False):
        directory = paths.as_path(directory)
        self.directory: epath.Path = directory.absolute() if paths.is_local(directory) else directory
        alone = ocp.options.MultiprocessingOptions(
            primary_host=jax.process_index(), active_processes={jax.process_index()}
        )
        options = ocp.CheckpointManagerOptions(  # a one-process reader creates nothing (orbax refuses it too)
            max_to_keep=max_to_keep, create=not only_this_process,
            multiprocessing_options=alone if only_this_process else ocp.options.MultiprocessingOptions(),
        )  # fmt: skip
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """The newest fully written step, None before the first save."""
        return self._manager.latest_step()

    def steps(self) -> list[int]:
        """Every fully written step still kept, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, step: int, items: Mapping[str, Any], meta: dict) -> None:
        """Writes every item and `meta` as step `step` in one atomic save (asynchronous; `wait` blocks)."""
        if META in items:
            raise ValueError(f"'{META}' is the JSON item: pass it as `meta`")
        args = {name: ocp.args.StandardSave(tree) for name, tree in items.items()}
        self._manager.save(step, args=ocp.args.Composite(**args, **{META: ocp.args.JsonSave(meta)}))

    def restore(self, step: int, like: Mapping[str, Any]) -> tuple[dict[str, Any], dict]:
        """(items, meta) of `step`: the items named in `like`, each laid out like its example tree there.

        OldLayoutError when a requested item is missing because the run used the old layout; ValueError
        when it is missing otherwise (the run was written with another configuration).
        """
        self._check_items(step, like)
        if "params" in like:
            self._check_params(step, like["params"])
        args = {name: ocp.args.StandardRestore(_abstract(tree)) for name, tree in like.items()}
        restored = self._manager.restore(step, args=ocp.args.Composite(**args, **{META: ocp.args.JsonRestore()}))
        return {name: restored[name] for name in like}, dict(restored[META])

    def meta(self, step: int) -> dict:
        """Only the JSON meta of `step` (cheap: to check a resume against it before reading any array)."""
        return dict(self._manager.restore(step, args=ocp.args.Composite(**{META: ocp.args.JsonRestore()}))[META])

    def _check_items(self, step: int, like: Mapping[str, Any]) -> None:
        step_dir = self.directory / str(step)
        missing = sorted(name for name in like if not (step_dir / name).is_dir())
        if not missing:
            return
        old_teacher = self.directory.parent / OLD_TEACHER_DIR
        if old_teacher.is_dir():
            raise OldLayoutError(
                f"{step_dir} is an old-layout checkpoint (its teacher is in {old_teacher}): it cannot be resumed "
                f"by this version; start a new workdir with --config.init_from={self.directory.parent} "
                "(parameters only) or resume it with the code that wrote it"
            )
        raise ValueError(f"{step_dir} has no item {missing}: it was written with another configuration "
                         "(config.teacher.enabled?)")  # fmt: skip

    def _check_params(self, step: int, params) -> None:
        """ShapeMismatchError (one line) when the parameters saved at `step` are not the arrays of `params`
        (read from the checkpoint's metadata, before any array)."""
        saved = ocp.StandardCheckpointHandler().metadata(self.directory / str(step) / "params").tree
        if differences := shape_differences(saved, params):
            more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
            raise ShapeMismatchError(
                f"{self.directory / str(step)}: its parameters are not the config's model: {differences[0]}{more}"
            )

    def restore_params(self, params, step: int | None = None):
        """Only the student's parameters (of the latest step by default): to start a new run or evaluate.
        ShapeMismatchError when they are not the arrays `params` has."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        self._check_params(step, params)
        restored = self._manager.restore(
            step, args=ocp.args.Composite(params=ocp.args.StandardRestore(_abstract(params)))
        )
        return restored["params"]

    def wait(self) -> None:
        """Blocks until the last save is on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for pending saves and releases the manager."""
        self._manager.close()
