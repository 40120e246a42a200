"""The one validator (ltsh_jax.data.validation) as the mpii_json training source meets it: every bad record or image
is found at start-up, before any step, with a message naming the file and record, or skipped and counted."""

from __future__ import annotations

import json
import pathlib
import threading

import ml_collections
import numpy as np
import pytest
from PIL import Image

from ltsh_jax.data import sources, validation
from ltsh_jax.data.bad_input import BadInputError, BadInputReport
from ltsh_jax.data.mpii_folder import load_mpii_json

SIZE = (64, 48)  # width, height of every test image


def _record(image: str, joints=None, vis=None) -> dict:
    joints = [[10.0 + k, 5.0 + 2 * k] for k in range(16)] if joints is None else joints
    return dict(image=image, center=[30.0, 20.0], scale=0.3, joints=joints, joints_vis=vis or [1] * 16)


def _folder(tmp_path: pathlib.Path, records: list[dict], truncate: str | None = None) -> pathlib.Path:
    """Images a.jpg, b.jpg, c.jpg (JPEG, noise) and ann.json; `truncate` cuts that image to half its bytes."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        pixels = rng.integers(0, 255, (SIZE[1], SIZE[0], 3), np.uint8)
        Image.fromarray(pixels).save(tmp_path / name, quality=90)
    if truncate:
        data = (tmp_path / truncate).read_bytes()
        (tmp_path / truncate).write_bytes(data[: len(data) // 2])
    (tmp_path / "ann.json").write_text(json.dumps(records))
    return tmp_path


def _config(folder: pathlib.Path, on_bad_input: str) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(source="mpii_json", dir=str(folder), annotation_file="ann.json", on_bad_input=on_bad_input)
    )


FAR = [[5000.0, 5000.0]] * 16  # every joint 5000 px outside the image
BAD = {
    "unreadable_image": ([_record("b.jpg")], "b.jpg", r"ann\.json record 1: image file .*b\.jpg does not decode"),
    "joint_outside_image": (
        [_record("b.jpg", joints=FAR)],
        None,
        r"ann\.json record 1: joint 0 \(r_ankle\) at 1-based \(5000, 5000\) lies outside the 64x48 image",
    ),
    "no_visible_joint": ([_record("b.jpg", vis=[0] * 16)], None, r"ann\.json record 1: the person has no labelled"),
    "malformed_record": (
        [_record("b.jpg", joints=[[float("nan"), 1.0]] * 16)],
        None,
        r"ann\.json record 1: field 'joints' has NaN or infinite values; skipping image b\.jpg",
    ),
    "missing_image": ([_record("d.jpg")], None, r"ann\.json record 1: image file .*d\.jpg does not exist"),
    "unsafe_path": ([_record("../a.jpg")], None, r"ann\.json record 1: file name '\.\./a\.jpg' contains '\.\.'"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_input_stops_the_source_before_training_naming_record_and_flag(tmp_path, kind):
    records, truncate, message = BAD[kind]
    folder = _folder(tmp_path, [_record("a.jpg"), *records, _record("c.jpg")], truncate)
    with pytest.raises(BadInputError, match=message) as error:
        sources.open_source(_config(folder, "raise"))
    assert f"[{kind}; pass --config.data.on_bad_input=skip" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_input_is_skipped_and_counted(tmp_path, kind):
    records, truncate, _ = BAD[kind]
    folder = _folder(tmp_path, [_record("a.jpg"), *records, _record("c.jpg")], truncate)
    source = sources.open_source(_config(folder, "skip"))
    assert source.report.problem_counts == {kind: 1}
    assert [pathlib.Path(source.annotations(i).name).name for i in range(len(source))] == ["a.jpg", "c.jpg"]


def test_nothing_usable_left_is_one_clear_error(tmp_path):
    folder = _folder(tmp_path, [_record("a.jpg", joints=FAR), _record("b.jpg", joints=FAR)])
    with pytest.raises(ValueError, match=r"ann\.json: no usable image: 2 records, skipped as bad input "
                       r"\{'joint_outside_image': 2\}; first: .*record 0: joint 0") as error:  # fmt: skip
        sources.open_source(_config(folder, "skip"))
    assert "\n" not in str(error.value)


def test_a_person_without_labelled_joint_spoils_its_image_even_beside_good_ones(tmp_path):
    folder = _folder(tmp_path, [_record("a.jpg"), _record("a.jpg", vis=[0] * 16), _record("b.jpg")])
    report = BadInputReport("skip")
    records = load_mpii_json(folder, report=report)
    assert [r.image_path.name for r in records] == ["b.jpg"] and report.problem_counts == {"no_visible_joint": 1}


def test_repeated_records_are_dropped_and_noted(tmp_path):
    folder = _folder(tmp_path, [_record("a.jpg"), _record("a.jpg")])
    report = BadInputReport("skip")
    [record] = load_mpii_json(folder, report=report)
    assert record.num_people == 1 and report.note_counts == {"duplicate_record": 1}


def test_non_finite_labelled_joint_is_its_own_kind():
    keypoints = np.full((16, 2), 3.0)
    keypoints[4] = (np.nan, 2.0)
    labelled = np.ones(16, bool)
    assert validation.person_problem(keypoints, labelled, 10, 10, "r")[0] == "non_finite_joint"
    labelled[4] = False
    assert validation.person_problem(keypoints, labelled, 10, 10, "r") is None


def test_checks_run_in_threads_and_report_in_item_order(tmp_path):
    folder = _folder(tmp_path, [], truncate="c.jpg")
    items = [
        validation.ImageToCheck(folder, name, f"item {i}", np.full((1, 16, 2), 3.0), np.ones((1, 16), bool), ["p"])
        for i, name in enumerate(["c.jpg", "a.jpg", "missing.jpg", "b.jpg"] * 8)
    ]
    meet = threading.Barrier(2, timeout=30)  # items 1 and 3 wait for each other: they must run at the same time

    def extra(i: int, width: int, height: int):
        if i in (1, 3):
            meet.wait()
        return ("odd", f"item {i}") if i == 1 else None

    report = BadInputReport("skip")
    sizes = validation.check_images(items, report, extra, num_threads=4)
    assert sizes[:4] == [None, None, None, SIZE] and sizes.count(SIZE) == 15
    assert [kind for kind, _ in report.problems[:4]] == ["unreadable_image", "odd", "missing_image", "unreadable_image"]
    with pytest.raises(BadInputError, match=r"item 0: image file .*c\.jpg does not decode"):
        validation.check_images(items, BadInputReport("raise"), num_threads=4)


@pytest.mark.parametrize("on_bad_input", ["raise", "skip"])
def test_training_on_nothing_usable_stops_before_its_first_step(tmp_path, on_bad_input):
    """The issue's case: every joint 5000 px outside the image (and a truncated JPEG) used to train on padding."""
    from experiments.configs import smoke  # noqa: PLC0415
    from ltsh_jax.train import loop  # noqa: PLC0415

    folder = _folder(tmp_path / "data", [_record("a.jpg", joints=FAR), _record("b.jpg")], truncate="b.jpg")
    config = smoke.get_config("test")
    config.data.update(dir=str(folder), annotation_file="ann.json", on_bad_input=on_bad_input)
    message = r"record 0: joint 0 \(r_ankle\) at 1-based \(5000, 5000\) lies outside"
    if on_bad_input == "skip":
        message = r"no usable image: 2 records, skipped as bad input \{.joint_outside_image.: 1, .unreadable_image.: 1"
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        loop.train_and_evaluate(config, workdir)
    assert not workdir.exists() or not any(workdir.rglob("*"))  # no config, metrics or checkpoint written


def test_a_joint_a_little_outside_is_data_and_one_image_size_away_is_not():
    """0-based pixels of a 64x48 image span [-0.5, 63.5] x [-0.5, 47.5]; one image size more is the limit."""
    keypoints = np.tile([[10.0, 10.0]], (16, 1))
    labelled = np.ones(16, bool)
    for joint_at, bad in [((10, -5), False), ((127.5, 10), False), ((-64.5, 10), False), ((10, 95.5), False),
                          ((128.0, 10), True), ((-65.0, 10), True), ((10, -48.6), True)]:  # fmt: skip
        keypoints[9] = joint_at  # the head top of a person cut by the image's edge
        problem = validation.person_problem(keypoints, labelled, 64, 48, "r")
        assert (problem is not None) == bad, (joint_at, problem)
        if bad:
            assert problem[0] == "joint_outside_image" and "more than one image size away" in problem[1]


def test_images_with_joints_a_little_outside_are_kept_and_counted(tmp_path):
    head_out = [[10.0 + k, 5.0 + 2 * k] for k in range(16)]
    head_out[9] = [20.0, -4.0]  # 1-based: 5 px above the top row
    folder = _folder(tmp_path, [_record("a.jpg"), _record("b.jpg", joints=head_out)])
    report = BadInputReport("raise")
    records = load_mpii_json(folder, report=report)
    assert [r.image_path.name for r in records] == ["a.jpg", "b.jpg"]
    np.testing.assert_allclose(records[1].keypoints[0, 9], [19.0, -5.0])  # 0-based, kept as given
    assert report.problem_counts == {} and report.note_counts == {"joint_outside_image_kept": 1}
