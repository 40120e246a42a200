"""When a run must stop because its numbers went bad, and which checkpoint is still good.

The jitted step skips non-finite updates (train/step.py); the loop stops once `max_skip_streak` updates
in a row were skipped, and saves a state only after its parameters gave a finite loss on a batch. So every
checkpoint holds parameters that evaluate to a finite loss, and the stop message names one of them.
"""

from __future__ import annotations

import math
import os


class TrainingDiverged(FloatingPointError):
    """The training numbers are no longer finite: the run stopped before saving them."""


def _stop(reason: str, last_good: int | None, checkpoint_dir: str | os.PathLike) -> TrainingDiverged:
    where = f"step {last_good} in {checkpoint_dir}" if last_good is not None else "none (no checkpoint yet)"
    return TrainingDiverged(
        f"{reason}: stopping. Last good checkpoint: {where}. Lower optim.learning_rate or check the data, then "
        "rerun the same command with --allow_config_change to resume from it (a changed config is recorded in "
        "config.json's config_history)."
    )


def check_skip_streak(
    streak: int, skipped: int, step: int, limit: int, last_good: int | None, checkpoint_dir: str | os.PathLike
) -> None:
    """TrainingDiverged when the last `limit` or more updates up to `step` were all skipped."""
    if streak >= limit:
        raise _stop(
            f"the last {streak} updates up to step {step} had a non-finite loss, gradient or result and were "
            f"skipped ({skipped} in this run so far; train.max_skip_streak={limit})",
            last_good,
            checkpoint_dir,
        )


def check_saveable(loss: float, step: int, last_good: int | None, checkpoint_dir: str | os.PathLike) -> None:
    """TrainingDiverged when the parameters about to be saved as `step` give a non-finite loss (`loss`)."""
    if not math.isfinite(loss):
        raise _stop(
            f"the parameters of step {step} give a loss of {loss} on its batch: not saved", last_good, checkpoint_dir
        )
