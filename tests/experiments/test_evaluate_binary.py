"""experiments.evaluate end to end: a checkpoint and a TFDS split in; predictions, table and pictures out.

The network is a barely trained tiny model, so the AP itself is not the point: the test checks that
the written table is what the standalone MPII evaluator computes from the written JSON files.
"""

import json
import subprocess
import sys

import pytest

from data_builders.build import build
from tests.paths import REPO

DUMMY_JSON = REPO / "data_builders" / "mpii_multiperson" / "dummy_data" / "json"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    build("mpii_multiperson", data_dir=data_dir, manual_dir=DUMMY_JSON)
    return data_dir


def test_evaluate_writes_consistent_outputs(trained_run, data_dir, tmp_path):
    output = tmp_path / "eval"
    run = subprocess.run(
        [  # no --config: the run's own config.json
            sys.executable, "-m", "experiments.evaluate",
            f"--workdir={trained_run}", f"--data_dir={data_dir}", "--split=validation", f"--output_dir={output}",
            "--scales=1.0", "--noflip", "--pictures=2",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("predictions.json", "ground_truth.json", "predictions_coco.json", "results.json", "table.md"):
        assert (output / name).stat().st_size > 0, name
    assert len(list((output / "pictures").glob("*.jpg"))) == 2
    written = json.loads((output / "results.json").read_text())
    assert set(written["table"]) == {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "mAP"}

    recomputed = tmp_path / "recomputed.json"
    check = subprocess.run(
        [
            sys.executable, "-m", "ltsh_jax.evaluation.mpii", f"--annotations={output / 'ground_truth.json'}",
            f"--predictions={output / 'predictions.json'}", f"--output={recomputed}", "--groups", "all",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-3000:]
    assert json.loads(recomputed.read_text())["table"] == written["table"]


def test_a_config_that_does_not_match_the_checkpoint_is_one_line(trained_run, data_dir, tmp_path):
    run = subprocess.run(
        [  # the full smoke config: width 1/8 where the run has 1/16
            sys.executable, "-m", "experiments.evaluate", "--config=experiments/configs/smoke.py",
            f"--workdir={trained_run}", f"--data_dir={data_dir}", f"--output_dir={tmp_path / 'eval'}",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the config --config=experiments/configs/smoke.py does not match"), last
    assert "saved" in last and "wanted" in last


def test_evaluate_names_the_build_command_when_the_dataset_is_missing(trained_run, tmp_path):
    run = subprocess.run(
        [
            sys.executable, "-m", "experiments.evaluate", "--config=experiments/configs/smoke.py:test",
            f"--workdir={trained_run}", f"--data_dir={tmp_path / 'nothing'}",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode != 0
    assert "python -m data_builders.build mpii_multiperson" in run.stderr
