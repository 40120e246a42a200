"""Orbax checkpoints of the train state, saved as separate items so a run can start from another's params.

Items: 'params', 'opt_state' (orbax pytrees, written atomically) and 'meta' (JSON: step and any extra
host state a caller adds, such as the teacher's). A killed save leaves no half-written step behind.
"""

from __future__ import annotations

import pathlib

import jax
import orbax.checkpoint as ocp


def _abstract(tree):
    """Shape/dtype/sharding skeleton of a tree of arrays, for restoring into the same layout."""
    return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
    """Saves and restores {'params', 'opt_state', 'meta'} under `directory`, keeping the newest `max_to_keep`."""

    def __init__(self, directory: str | pathlib.Path, max_to_keep: int = 3):
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, params, opt_state, meta: dict) -> None:
        """Writes the checkpoint of `step` (asynchronously; `wait` blocks until it is on disk)."""
        self._manager.save(
            step,
            args=ocp.args.Composite(
                params=ocp.args.StandardSave(params),
                opt_state=ocp.args.StandardSave(opt_state),
                meta=ocp.args.JsonSave(meta),
            ),
        )

    def restore(self, step: int, params, opt_state) -> tuple:
        """(params, opt_state, meta) of `step`, laid out like the given example trees."""
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                params=ocp.args.StandardRestore(_abstract(params)),
                opt_state=ocp.args.StandardRestore(_abstract(opt_state)),
                meta=ocp.args.JsonRestore(),
            ),
        )
        return restored["params"], restored["opt_state"], dict(restored["meta"])

    def restore_params(self, params, step: int | None = None):
        """Only the parameters (of the latest step by default): to start a new run from this one."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        restored = self._manager.restore(
            step, args=ocp.args.Composite(params=ocp.args.StandardRestore(_abstract(params)))
        )
        return restored["params"]

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
