"""The demo end to end (shortened): it builds its data, scores the shipped baseline, fine-tunes both students, and
its report quotes its own runs."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from experiments import demo, tables
from ltsh_jax.metrics import read_metrics
from tests.paths import REPO


def test_teacher_movement_by_hand(tmp_path):
    records = [
        {"step": 5, "teacher_probs": [0.25, 0.25, 0.5, 0.0]},
        {"step": 10, "teacher_probs": [0.5, 0.25, 0.25, 0.0]},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    movement = demo.teacher_movement(tmp_path)
    assert movement["teacher_steps"] == 2
    # 3 non-empty groups: uniform is 1/3; the largest deviation is 0.5 - 1/3 at both steps.
    np.testing.assert_allclose(movement["max_deviation_peak"], 0.5 - 1 / 3)
    p = np.array([0.5, 0.25, 0.25])
    np.testing.assert_allclose(movement["kl_to_uniform_last"], (p * np.log(p * 3)).sum())


@pytest.mark.slow
def test_shortened_demo_reports_the_numbers_of_its_own_runs(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "experiments.demo", f"--output_dir={tmp_path}", "--steps=10", "--eval_images=3"],
        cwd=REPO, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = (tmp_path / "report.md").read_text()
    for key, label in demo.RUNS:
        results = json.loads((tmp_path / key / "eval_validation" / "results.json").read_text())
        assert results["run"]["checkpoint_step"] == 10 and results["run"]["images"] == 3
        row = next(line for line in report.splitlines() if line.startswith(f"| {label} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2:10] == [f"{results['table'][c]:.1f}" for c in tables.COLUMNS]
        assert (tmp_path / key / "loss.png").exists()
        assert len(list((tmp_path / key / "eval_validation" / "pictures").glob("*.jpg"))) == 3
    pretrained = json.loads((tmp_path / demo.PRETRAINED / "eval_validation" / "results.json").read_text())
    assert pretrained["run"]["images"] == 3  # the shipped baseline, scored before fine-tuning on the same images
    row = next(line for line in report.splitlines() if line.startswith("| Baseline before fine-tuning"))
    assert [c.strip() for c in row.strip("|").split("|")][2:10] == [
        f"{pretrained['table'][c]:.1f}" for c in tables.COLUMNS
    ]
    probs = [r["teacher_probs"] for r in read_metrics(tmp_path / "teacher") if "teacher_probs" in r]
    assert len(probs) == 10 // 5  # every_n = 5 in the demo's teacher config
    quoted = re.search(r"at the last: \[([^\]]*)\]", report).group(1)
    np.testing.assert_allclose([float(v) for v in quoted.split(",")], np.round(probs[-1], 3))
    assert (tmp_path / "teacher" / "teacher_probs.png").exists()
    assert "mpii_multiperson" in report  # says how to run the real tables
