"""experiments.train: a mistake is one line on stderr (exit 1) before any work; start-up is timed; no INFO logs."""

import re
import subprocess
import sys

import pytest

from tests.paths import REPO

MPII_SAMPLES = REPO.parent / "shared" / "data" / "real_samples" / "mpii"


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("--config.num_steps=3", "--config.num_steps: the config has no field 'num_steps'; did you mean "
                                 "--config.train.num_steps?"),
        ("--config.train.log_every=0", "error: config.train.log_every=0 must be an integer >= 1"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line(tmp_path, override, line):
    out = subprocess.run(
        [
            sys.executable, "-m", "experiments.train", "--config=experiments/configs/smoke.py:test",
            f"--workdir={tmp_path / 'run'}", override,
        ],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert line in out.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


def test_help_exits_0():
    out = subprocess.run([sys.executable, "-m", "experiments.train", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--workdir" in out.stdout and "--allow_config_change" in out.stdout


def _train(tmp_path, *overrides):
    return subprocess.run(
        [
            sys.executable, "-m", "experiments.train", "--config=experiments/configs/smoke.py:test",
            f"--workdir={tmp_path / 'run'}", f"--config.data.dir={MPII_SAMPLES}",
            "--config.data.annotation_file=test_mpii.json", "--config.train.num_steps=1", *overrides,
        ],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_start_up_stages_are_timed_library_info_is_off_and_a_changed_config_is_refused(tmp_path):
    out = _train(tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    for stage in ("data: sources opened", "model: parameters", "held-out batches", "compile: train step"):
        assert re.search(rf"\[start-up\] {stage}.* in \d+\.\d s", out.stdout), stage
    info = [line for line in out.stderr.splitlines() if line.startswith("I") and "]" in line]  # absl INFO lines
    assert not info, info[:3]

    refused = _train(tmp_path, "--config.optim.learning_rate=0.5")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "this run was trained with another config (optim.learning_rate: 0.002 -> 0.5)" in last, last
