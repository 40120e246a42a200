"""A simulated kill of train_and_evaluate, through the loop's real seam: the training pipeline's batch method."""

import pytest

from ltsh_jax.train import loop


def kill_at_step(step_to_kill: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes train_and_evaluate's training pipeline raise KeyboardInterrupt when asked for that step's batch."""
    make_pipeline = loop.make_pipeline

    def make_killing_pipeline(*args, **kwargs):
        pipeline = make_pipeline(*args, **kwargs)
        real_batch = pipeline.batch

        def batch(step):
            if step == step_to_kill:
                raise KeyboardInterrupt("simulated kill")
            return real_batch(step)

        pipeline.batch = batch
        return pipeline

    monkeypatch.setattr(loop, "make_pipeline", make_killing_pipeline)
