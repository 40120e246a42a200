"""A barely trained run shared by the binaries' tests (experiments.evaluate, experiments.predict)."""

import pytest

from experiments.configs import smoke
from ltsh_jax.train import loop
from tests.paths import REAL_MPII


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The smoke config's test student after 3 steps on the real MPII samples: RUN/config.json and a checkpoint."""
    workdir = tmp_path_factory.mktemp("run")
    config = smoke.get_config("test")
    config.data.dir, config.data.annotation_file = str(REAL_MPII), "test_mpii.json"
    config.train.num_steps = 3
    loop.train_and_evaluate(config, workdir)
    return workdir
