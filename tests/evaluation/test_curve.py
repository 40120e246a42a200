"""The held-out AP curve: training time from metrics.jsonl by hand, every kept checkpoint scored like the
final evaluation, and ground truth drawn beside the prediction."""

import json

import numpy as np
import pytest

from data_builders.build import build
from experiments.configs import smoke
from ltsh_jax.decode import assemble
from ltsh_jax.evaluation import curve, run
from ltsh_jax.evaluation.records import GroundTruthImage
from ltsh_jax.models.openpose import get_skeleton
from ltsh_jax.train import loop
from tests.paths import REPO

MPII_SAMPLES = REPO.parent / "shared" / "data" / "real_samples" / "mpii"
DUMMY_JSON = REPO / "data_builders" / "mpii_multiperson" / "dummy_data" / "json"


def test_training_seconds_by_hand():
    records = [
        {"step": 1, "examples_per_sec": 0.5},  # 1 step of 4 examples at 0.5/s: 8 s (compilation)
        {"step": 5, "teacher_probs": [0.5, 0.5]},  # no timing: skipped
        {"step": 10, "examples_per_sec": 12.0},  # 9 steps x 4 / 12 = 3 s
        {"step": 20, "examples_per_sec": 20.0},  # 10 x 4 / 20 = 2 s
    ]
    assert curve.training_seconds(records, batch_size=4) == {1: 8.0, 10: 11.0, 20: 13.0}


@pytest.fixture(scope="module")
def run_and_split(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    config = smoke.get_config("test")
    config.data.dir, config.data.annotation_file = str(MPII_SAMPLES), "test_mpii.json"
    config.train.num_steps = 4
    config.train.log_every = config.train.checkpoint_every = 2
    config.train.eval_every = 0
    config.train.max_checkpoints = 5
    loop.train_and_evaluate(config, workdir)
    data_dir = tmp_path_factory.mktemp("tfds")
    build("mpii_multiperson", data_dir=data_dir, manual_dir=DUMMY_JSON)
    settings = run.EvalSettings(
        split="validation", data_dir=str(data_dir), scales=(1.0,), flip=False, max_images=2, pictures=1,
        multi_person_groups=False,
    )  # fmt: skip
    return config, workdir, settings


def test_every_kept_checkpoint_is_scored_like_the_final_evaluation(run_and_split, monkeypatch):
    config, workdir, settings = run_and_split
    final = run.evaluate_checkpoint(config, workdir, settings)  # the latest checkpoint, step 4
    rows = curve.ap_curve(config, workdir, settings)
    assert [row["step"] for row in rows] == [2, 4]
    assert rows[1]["table"] == final["table"]  # scored again through the curve: the same numbers
    assert rows[0]["train_seconds"] < rows[1]["train_seconds"]
    assert (workdir / "eval_validation" / curve.PLOT_FILE).stat().st_size > 0
    saved = json.loads((workdir / "eval_validation" / curve.CURVE_FILE).read_text())
    assert saved["rows"] == rows

    def no_scoring(*args, **kwargs):
        raise AssertionError("a step in ap_curve.json was scored again")

    monkeypatch.setattr(run, "predict_checkpoint", no_scoring)
    assert curve.ap_curve(config, workdir, settings) == rows  # a rerun reads the file
    other = run.EvalSettings(**{**settings.__dict__, "flip": True})
    given = {"run": {"checkpoint_step": 4}, "table": {"mAP": 12.5}}
    with pytest.raises(AssertionError, match="scored again"):  # other settings: the file is not reused
        curve.ap_curve(config, workdir, other, final=given)


def test_settings_min_parts_reaches_the_decoder(run_and_split, monkeypatch):
    config, workdir, settings = run_and_split
    seen = []

    def record(*args, decode_params, **kwargs):
        seen.append(decode_params.min_parts)
        return []

    monkeypatch.setattr(run, "predict_examples", record)
    for min_parts in (3, 4):
        run.predict_checkpoint(config, workdir, [], run.EvalSettings(**{**settings.__dict__, "min_parts": min_parts}))
    assert seen == [3, 4] and run.EvalSettings().min_parts == assemble.DecodeParams().min_parts == 3


def test_truth_beside_prediction_draws_the_truth_left_and_the_prediction_right():
    skeleton = get_skeleton(smoke.get_config("test"))
    image = np.full((60, 80, 3), 40, np.uint8)
    keypoints = np.zeros((1, 16, 2))
    keypoints[0, 9], keypoints[0, 8] = (40, 10), (40, 25)  # head top, upper neck: the first limb
    present = np.zeros((1, 16), bool)
    present[0, [8, 9]] = True
    truth = GroundTruthImage(name="a.jpg", keypoints=keypoints, present=present, visible=present,
                             head_boxes=np.array([[30.0, 5, 50, 30]]), groups=np.zeros(1, np.int64))  # fmt: skip
    shapes = [(16, 2), (16,), (), (), (skeleton.num_parts, 2), (skeleton.num_parts,)]
    nobody = assemble.DecodedPeople(*(np.zeros((0, *shape), np.float32) for shape in shapes))
    drawn = run.truth_beside_prediction(image, run.ImageResult(truth, 0, nobody), skeleton)
    assert drawn.shape == (60, 80 * 2 + 4, 3)
    left, right = drawn[:, :80], drawn[:, 84:]
    assert (left[18, 38:43] != 40).any()  # the neck-to-head limb at x = 40
    assert (right[20:, :] == 40).all()  # nobody found: the image as it was (below the caption)
