"""Bad input: each case names the file and record; "raise" stops, "skip" skips the image, counts and reports it."""

from __future__ import annotations

import pytest
import tensorflow_datasets as tfds
from PIL import Image

from ltsh_jax.data.bad_input import BadInputError

# the first record of image 000000002.jpg: "train.json record 2" (image 1 has records 0 and 1), annolist(2) in the .mat
WHERE = {"json": "train.json record {record}", "mat": "mpii_human_pose_v1_u12_1.mat annolist({image}).annorect(1)"}


def _outside(table):
    table["000000002.jpg"][0]["joints"][3] = (500.0, 10.0)  # the image is 96 x 64
    table["000000002.jpg"][0]["labelled"][3] = True


def _nothing_visible(table):
    table["000000002.jpg"][0]["labelled"][:] = False


def _truncate(folder):
    path = folder / "images/000000002.jpg"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _delete(folder):
    (folder / "images/000000002.jpg").unlink()


CASES = {
    "joint_outside_image": (_outside, None, "joint 3 (l_hip) at 1-based (500, 10) lies outside the 96x64 image"),
    "no_visible_joint": (_nothing_visible, None, "has no labelled (visible) joint"),
    "unreadable_image": (None, _truncate, "000000002.jpg does not decode"),
    "missing_image": (None, _delete, "000000002.jpg does not exist"),
}


def _where(fmt: str, kind: str) -> str:
    if fmt == "mat" and kind in ("unreadable_image", "missing_image"):
        return "mpii_human_pose_v1_u12_1.mat annolist(2)"  # image-level problems name the image's entry
    return WHERE[fmt].format(record=2, image=2)


@pytest.mark.parametrize("fmt", ["json", "mat"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_input_stops_naming_file_and_record(write_manual_dir, run_build, fmt, kind):
    edit_table, edit_files, message = CASES[kind]
    folder = write_manual_dir(fmt, edit_table)
    if edit_files:
        edit_files(folder)
    with pytest.raises(BadInputError) as error:
        run_build(folder)
    assert _where(fmt, kind) in str(error.value) and message in str(error.value) and kind in str(error.value)


@pytest.mark.parametrize("fmt", ["json", "mat"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_input_skipped_is_counted_reported_and_not_written(write_manual_dir, run_build, fmt, kind):
    edit_table, edit_files, message = CASES[kind]
    folder = write_manual_dir(fmt, edit_table)
    if edit_files:
        edit_files(folder)
    builder = run_build(folder, on_bad_input="skip")
    assert builder.report.problem_counts == {kind: 1}
    assert message in builder.report.summary() and "skipped bad input: 1" in builder.report.summary()
    written = []
    for split in builder.info.splits:
        source = builder.as_data_source(split=split)
        written += [source[i]["image/filename"].decode() for i in range(len(source))]
    assert sorted(written) == ["000000001.jpg", "000000003.jpg", "000000004.jpg", "000000005.jpg", "000000006.jpg"]
    stored = tfds.builder_from_directory(str(builder.data_path)).info.metadata["build_report"]
    assert stored["problem_counts"] == {kind: 1} and _where(fmt, kind) in stored["problems"][0][1]


@pytest.mark.parametrize("mode", ["raise", "skip"])
def test_missing_annotation_file_always_stops(tmp_path, run_build, mode):
    (tmp_path / "images").mkdir()
    with pytest.raises(
        FileNotFoundError, match=rf"{tmp_path}: no annotation file: neither mpii_human_pose_v1_u12_1\.mat"
    ):
        run_build(tmp_path, on_bad_input=mode)


def test_malformed_json_record_names_record_and_field(write_manual_dir, run_build):
    folder = write_manual_dir("json", lambda table: table["000000002.jpg"][0].update(scale=-1.0))
    with pytest.raises(BadInputError, match=r"train\.json record 2: field 'scale' must be positive"):
        run_build(folder)
    builder = run_build(folder, on_bad_input="skip")
    assert builder.report.problem_counts == {"malformed_record": 1}
    assert builder.info.splits.total_num_examples == 5


def test_mask_of_another_size_and_unreadable_mat_are_named(write_manual_dir, run_build):
    folder = write_manual_dir("mat")
    mask = folder / "unannotated_masks/000000003.png"
    Image.new("L", (10, 10)).save(mask)
    with pytest.raises(BadInputError, match=rf"{mask}: mask is 10x10, its image 80x60"):
        run_build(folder)
    assert run_build(folder, on_bad_input="skip").report.problem_counts == {"bad_mask": 1}
    (folder / "mpii_human_pose_v1_u12_1.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match=r"mpii_human_pose_v1_u12_1\.mat: not a readable MPII annotation file"):
        run_build(folder)
