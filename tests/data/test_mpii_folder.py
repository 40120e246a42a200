"""Tests of ltsh_jax.data.mpii_folder: grouping, labelled flags, and a clear error for each kind of bad input."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from ltsh_jax.data.bad_input import BadInputError
from ltsh_jax.data.mpii_folder import load_mpii_json
from tests.paths import REAL_MPII

REAL = REAL_MPII


def _record(image="a.png", joints=None, vis=None, center=(10.0, 20.0), scale=1.5):
    joints = [[float(k + 1), float(2 * k + 1)] for k in range(16)] if joints is None else joints
    return dict(image=image, center=list(center), scale=scale, joints=joints, joints_vis=vis or [1] * 16)


def _folder(tmp_path: pathlib.Path, records, images=("a.png", "b.png"), name="ann.json") -> pathlib.Path:
    for image in images:
        (tmp_path / image).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 36), (1, 2, 3)).save(tmp_path / image)
    (tmp_path / name).write_text(json.dumps(records))
    return tmp_path


def test_groups_people_by_image_in_sorted_order(tmp_path):
    records = [_record("b.png", center=(1, 1)), _record("a.png", center=(2, 2)), _record("b.png", center=(3, 3))]
    out = load_mpii_json(_folder(tmp_path, records))
    assert [r.image_path.name for r in out] == ["a.png", "b.png"]
    assert [r.num_people for r in out] == [1, 2]
    # File order within an image; 1-based file coordinates become 0-based.
    np.testing.assert_array_equal(out[1].centers, [[0, 0], [2, 2]])
    assert out[1].keypoints.shape == (2, 16, 2) and out[1].keypoints.dtype == np.float32
    assert out[1].labelled.shape == (2, 16) and out[1].labelled.dtype == bool
    assert out[1].scales.shape == (2,) and out[1].image_path == tmp_path / "b.png"


def test_labelled_needs_visible_flag_and_not_the_missing_marker(tmp_path):
    joints = [[float(k + 1), 5.0] for k in range(16)]
    joints[0] = [-1.0, -1.0]  # missing, although flagged
    vis = [1] * 16
    vis[2] = 0  # present but not flagged
    out = load_mpii_json(_folder(tmp_path, [_record(joints=joints, vis=vis)]))
    expected = np.ones(16, bool)
    expected[[0, 2]] = False
    np.testing.assert_array_equal(out[0].labelled[0], expected)


def test_real_samples_load():
    out = load_mpii_json(REAL, "test_mpii.json")
    assert len(out) == 5 and all(r.num_people == 1 for r in out)
    names = [r.image_path.name for r in out]
    assert names == sorted(names)
    by_name = {r.image_path.name: r for r in out}
    # 051423444.jpg: both ankles are [-1, -1]; 005808361.jpg: the first annotated image, all visible.
    assert not by_name["051423444.jpg"].labelled[0, [0, 5]].any() and by_name["051423444.jpg"].labelled[0].sum() == 14
    np.testing.assert_allclose(by_name["005808361.jpg"].keypoints[0, 0], [803.0, 710.0])  # file: [804, 711]
    np.testing.assert_allclose(by_name["005808361.jpg"].scales[0], 4.718488, rtol=1e-6)


def test_annotation_file_is_found_when_unique(tmp_path):
    assert len(load_mpii_json(_folder(tmp_path, [_record()]))) == 1


@pytest.mark.parametrize("count", [0, 2])
def test_annotation_file_must_be_unique_when_not_given(tmp_path, count):
    folder = _folder(tmp_path, [_record()], name="one.json")
    if count == 0:
        (folder / "one.json").unlink()
    else:
        (folder / "two.json").write_text("[]")
    with pytest.raises(ValueError, match=rf"exactly one \*\.json.*found {count}"):
        load_mpii_json(folder)


def test_missing_folder_and_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_mpii_json(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="other.json"):
        load_mpii_json(_folder(tmp_path, [_record()]), "other.json")


def test_malformed_json_names_the_file(tmp_path):
    folder = _folder(tmp_path, [])
    (folder / "ann.json").write_text('[{"image": "a.png",')
    with pytest.raises(ValueError, match=r"ann\.json: malformed JSON"):
        load_mpii_json(folder)


def _bad(**changes):
    record = _record()
    for key, value in changes.items():
        if value is None:
            del record[key]
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(
    "record, message",
    [
        (_bad(joints_vis=None), r"record 1: missing field 'joints_vis'"),
        (_bad(image=None), r"record 1: missing field 'image'"),
        (_bad(joints=[[0.0, 0.0]] * 15), r"record 1: field 'joints' must have shape \(16, 2\)"),
        (_bad(joints=[[0.0, 0.0, 1.0]] * 16), r"record 1: field 'joints' must have shape \(16, 2\)"),
        (_bad(joints=[[float("nan"), 0.0]] * 16), r"record 1: field 'joints' has NaN"),
        (_bad(center=[1.0, float("inf")]), r"record 1: field 'center' has NaN or infinite"),
        (_bad(joints=[["x", 0.0]] * 16), r"record 1: field 'joints' is not numeric"),
        (_bad(scale=0.0), r"record 1: field 'scale' must be positive"),
        (_bad(scale=-2.0), r"record 1: field 'scale' must be positive"),
        (_bad(image="../a.png"), r"record 1: file name '\.\./a\.png' contains '\.\.'.*\[unsafe_path"),
        (_bad(image="sub/../../a.png"), r"record 1: file name .* contains '\.\.'"),
        (_bad(image="/etc/passwd"), r"record 1: file name '/etc/passwd' is absolute"),
        (_bad(image="C:\\x.png"), r"record 1: file name .* is absolute"),
        (_bad(image=""), r"record 1: field 'image' must be a non-empty string"),
        ("not a record", r"record 1: a record must be a JSON object"),
    ],
)
def test_bad_record_names_file_index_and_field(tmp_path, record, message):
    folder = _folder(tmp_path, [_record(), record])
    with pytest.raises(ValueError, match=message) as info:
        load_mpii_json(folder)
    assert str(folder / "ann.json") in str(info.value)


def test_top_level_must_be_a_list(tmp_path):
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_mpii_json(_folder(tmp_path, {"images": []}))


def test_missing_image_file_names_record_and_path(tmp_path):
    folder = _folder(tmp_path, [_record(), _record(image="sub/missing.png")])
    with pytest.raises(BadInputError, match=r"record 1: image file .*sub/missing\.png does not exist \[missing_image"):
        load_mpii_json(folder)


def test_images_in_subfolders_are_allowed(tmp_path):
    out = load_mpii_json(_folder(tmp_path, [_record(image="sub/c.png")], images=("sub/c.png",)))
    assert out[0].image_path == tmp_path / "sub" / "c.png"


def test_image_symlinked_outside_the_folder_is_refused(tmp_path):
    folder = _folder(tmp_path / "data", [_record(), _record(image="link.png")])
    Image.new("RGB", (40, 36)).save(tmp_path / "secret.png")
    (folder / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(ValueError, match=r"record 1: file name 'link\.png' leads to .*secret\.png, outside"):
        load_mpii_json(folder)
