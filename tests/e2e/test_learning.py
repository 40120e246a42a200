"""The learning check: the small student fits 8 rendered images and finds their people (slow: ~15 + ~8 min on 2 cores).

Rendering -> records -> crops -> targets -> loss -> update -> maps -> decode -> AP as one loop, the
student scored on its own training images at the people's size. tests/e2e/test_pipeline_oracle.py is
its ceiling (perfect maps: 95.8 mAP).
"""

from __future__ import annotations

import pytest

from data_builders.build import build
from experiments.configs import learning_check
from experiments.configs.demo import BASELINE
from ltsh_jax.evaluation.run import EvalSettings, evaluate_checkpoint
from ltsh_jax.train import loop
from ltsh_jax.train.run_config import load_run_config


def _training_images(config) -> EvalSettings:
    """The run's own training images, each at its people's training size, one scale, no flip."""
    return EvalSettings(
        dataset=config.data.name, builder_config=config.data.builder_config, split=config.data.split,
        data_dir=config.data.data_dir, scales=(1.0,), flip=False, multi_person_groups=False,
    )  # fmt: skip


def _train_and_score(variant: str, tmp_path) -> tuple[dict, EvalSettings]:
    config = learning_check.get_config(variant)
    config.data.data_dir = str(tmp_path / "tfds")
    build(f"{config.data.name}/{config.data.builder_config}", data_dir=config.data.data_dir)
    loop.train_and_evaluate(config, tmp_path / "run")
    settings = _training_images(config)
    results = evaluate_checkpoint(config, tmp_path / "run", settings)
    assert results["run"]["images"] == 8
    assert results["run"]["checkpoint_step"] == config.train.num_steps
    return results, settings


@pytest.mark.slow
def test_small_student_fits_its_training_images_from_scratch(tmp_path):
    results, _ = _train_and_score("", tmp_path)
    # From scratch the width-1/4 student scores 73.3 at 1,500 steps (72.6 and 77.4 on earlier code; 81.3 was
    # recorded once and does not reproduce; docs/learning.md): the bar leaves room for that spread. A broken
    # stage gives ~0. The 80 is the next test's, from the shipped baseline.
    assert results["table"]["mAP"] >= 60.0, results["table"]


@pytest.mark.slow
def test_baseline_student_fits_its_training_images(tmp_path):
    """The demo's shipped baseline (trained by this project on other images of such scenes) fine-tuned on the 8
    images: 36.7 mAP before, 85.1 after 750 steps. Breaking a stage on purpose while fine-tuning (PAF signs,
    targets half a cell off, x and y swapped in the Gaussians) drops it below the bar (docs/learning.md)."""
    results, settings = _train_and_score("from_baseline", tmp_path)
    before = evaluate_checkpoint(load_run_config(BASELINE), BASELINE, settings, tmp_path / "baseline_eval")
    assert before["table"]["mAP"] <= 50.0, before["table"]  # the 8 images are new to the baseline
    assert results["table"]["mAP"] >= 80.0, (before["table"], results["table"])
