"""The learning check: the small student fits 8 rendered images and finds their people (slow: ~15 min on 2 cores).

Rendering -> records -> crops -> targets -> loss -> update -> maps -> decode -> AP as one loop, the
student scored on its own training images at the people's size. tests/e2e/test_pipeline_oracle.py is
its ceiling (perfect maps: 95.8 mAP).
"""

from __future__ import annotations

import pytest

from data_builders.build import build
from experiments.configs import learning_check
from ltsh_jax.evaluation.run import EvalSettings, evaluate_checkpoint
from ltsh_jax.train import loop


@pytest.mark.slow
def test_small_student_fits_its_training_images(tmp_path):
    config = learning_check.get_config()
    config.data.data_dir = str(tmp_path / "tfds")
    build(f"{config.data.name}/{config.data.builder_config}", data_dir=config.data.data_dir)
    loop.train_and_evaluate(config, tmp_path / "run")
    settings = EvalSettings(
        dataset=config.data.name, builder_config=config.data.builder_config, split=config.data.split,
        data_dir=config.data.data_dir, scales=(1.0,), flip=False, multi_person_groups=False,
    )  # fmt: skip
    results = evaluate_checkpoint(config, tmp_path / "run", settings)
    assert results["run"]["images"] == 8
    # Measured 72.6 and 77.4 on earlier code, 73.3 since the crowded-crop masks and crop-centre rule (81.3 was
    # recorded once and does not reproduce; docs/learning.md): the 80 is not reached, and the bar leaves
    # room for that spread. A broken stage gives ~0.
    assert results["table"]["mAP"] >= 60.0, results["table"]
