"""The smoke configuration learns: its loss falls clearly over 300 steps on the real MPII samples."""

import subprocess
import sys

import numpy as np
import pytest

from ltsh_jax.metrics import read_metrics
from tests.paths import REPO

MPII_SAMPLES = REPO.parent / "shared" / "data" / "real_samples" / "mpii"


@pytest.mark.slow
def test_smoke_training_loss_falls(tmp_path):
    out = subprocess.run(
        [
            sys.executable, "-m", "experiments.train", "--config=experiments/configs/smoke.py",
            f"--config.data.dir={MPII_SAMPLES}", "--config.data.annotation_file=test_mpii.json",
            f"--workdir={tmp_path}",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    records = read_metrics(tmp_path)
    assert records[-1]["step"] == 300
    first = records[0]["loss"]
    last = np.mean([r["loss"] for r in records[-5:]])
    assert last < 0.5 * first, (first, last)
    evals = [r["eval_loss"] for r in records if "eval_loss" in r]
    assert len(evals) == 3 and evals[-1] < evals[0]
