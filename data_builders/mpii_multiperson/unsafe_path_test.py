"""Image and mask names from the annotation file never reach a file outside manual_dir's folders.

Each case names an image outside the images folder (by '..', by an absolute path, by a symlink inside the folder
leading out); the file there is a valid JPEG, so only the confinement stops it. "raise" stops naming the record
and the name; "skip" skips and counts the image, and the outside file is not in the dataset.
"""

from __future__ import annotations

import shutil

import pytest

from data_builders.mpii_multiperson.conftest import DUMMY
from data_builders.mpii_multiperson.dummy_data import make_dummy_data
from ltsh_jax.data.bad_input import BadInputError

VICTIM = "000000002.jpg"  # renamed in the annotation file, or replaced by a symlink
WHERE = {"json": "train.json record 2", "mat": "mpii_human_pose_v1_u12_1.mat annolist(2)"}


def _rename(monkeypatch, new_name: str) -> None:
    images = {new_name if name == VICTIM else name: value for name, value in make_dummy_data.IMAGES.items()}
    monkeypatch.setattr(make_dummy_data, "IMAGES", images)


def _secret(tmp_path):
    secret = tmp_path / "secret.jpg"
    shutil.copy(DUMMY / "mat/images" / VICTIM, secret)
    return secret


def _manual_dir(case, fmt, tmp_path, monkeypatch, write_manual_dir):
    secret = _secret(tmp_path)
    if case == "dotdot":
        _rename(monkeypatch, "../../secret.jpg")
    elif case == "absolute":
        _rename(monkeypatch, str(secret))
    folder = write_manual_dir(fmt)
    if case == "symlink":
        (folder / "images" / VICTIM).unlink()
        (folder / "images" / VICTIM).symlink_to(secret)
    return folder


MESSAGES = {"dotdot": "contains '..'", "absolute": "is absolute", "symlink": "secret.jpg, outside the folder"}


@pytest.mark.parametrize("fmt", ["json", "mat"])
@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_names_leaving_the_images_folder_stop_the_build(tmp_path, monkeypatch, write_manual_dir, run_build, fmt, case):
    folder = _manual_dir(case, fmt, tmp_path, monkeypatch, write_manual_dir)
    with pytest.raises(BadInputError) as error:
        run_build(folder)
    message = str(error.value)
    assert WHERE[fmt] in message and MESSAGES[case] in message and "unsafe_path" in message and "\n" not in message


@pytest.mark.parametrize("fmt", ["json", "mat"])
@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_names_leaving_the_images_folder_are_skipped_never_copied(
    tmp_path, monkeypatch, write_manual_dir, run_build, fmt, case
):
    folder = _manual_dir(case, fmt, tmp_path, monkeypatch, write_manual_dir)
    builder = run_build(folder, on_bad_input="skip")
    assert builder.report.problem_counts == {"unsafe_path": 1}
    secret = (tmp_path / "secret.jpg").read_bytes()
    for split in builder.info.splits:
        source = builder.as_data_source(split=split)
        assert all(source[i]["image"] != secret for i in range(len(source)))
    assert builder.info.splits.total_num_examples == 5


def test_mask_symlinked_outside_is_refused(tmp_path, write_manual_dir, run_build):
    folder = write_manual_dir("mat")
    outside = tmp_path / "outside.png"
    shutil.move(folder / "unannotated_masks/000000003.png", outside)
    (folder / "unannotated_masks/000000003.png").symlink_to(outside)
    with pytest.raises(BadInputError, match=r"annolist\(3\) \(its mask in unannotated_masks/\): .*outside the folder"):
        run_build(folder)
    assert run_build(folder, on_bad_input="skip").report.problem_counts == {"unsafe_path": 1}
