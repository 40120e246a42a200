"""A training config that requires ImageNet VGG-19 weights refuses to start without them (the fidelity issue,
item 2); the weights' loading and channel order are tested in tests/models/test_openpose.py."""

import pytest

from experiments.configs import dr, smoke
from ltsh_jax.train import loop
from tests.paths import REPO

MPII_SAMPLES = REPO.parent / "shared" / "data" / "real_samples" / "mpii"


def test_paper_baseline_requires_weights_and_tiny_does_not():
    assert dr.get_config().model.vgg_required and not dr.get_config("tiny").model.vgg_required


def test_training_refuses_to_start_without_the_required_weights(tmp_path):
    config = smoke.get_config("test")
    config.data.dir = str(MPII_SAMPLES)
    config.data.annotation_file = "test_mpii.json"
    config.model.vgg_required = True
    with pytest.raises(ValueError, match=r"--config\.model\.vgg_weights=PATH.*scratch"):
        loop.train_and_evaluate(config, tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()
