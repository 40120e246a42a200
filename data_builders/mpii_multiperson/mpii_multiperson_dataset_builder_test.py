"""mpii_multiperson builds: dummy data in both formats, the real samples of ../shared, splits, reading back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import data_builders
from data_builders.mpii_multiperson import Builder, MpiiMultipersonConfig
from data_builders.mpii_multiperson.conftest import DUMMY, REAL
from data_builders.mpii_multiperson.dummy_data import make_dummy_data
from ltsh_jax.data import sources, splits
from ltsh_jax.data.schema import ALONE_DISTANCE, NO_GROUP

NAMES = list(make_dummy_data.IMAGES)


def _examples(builder) -> dict[str, tuple[str, dict]]:
    """filename -> (split, raw example), over every split."""
    out = {}
    for split in builder.info.splits:
        source = builder.as_data_source(split=split)
        for i in range(len(source)):
            example = source[i]
            out[example["image/filename"].decode()] = (split, example)
    return out


def _mat_visibility(person: dict, k: int) -> np.ndarray:
    """The codes the .mat of make_dummy_data encodes: unknown is_visible counts as visible."""
    codes = np.zeros(16, np.int64)
    for j in np.flatnonzero(person["labelled"]):
        raw = make_dummy_data._is_visible(bool(person["visible"][j]), int(j), k)
        unknown = isinstance(raw, np.ndarray) or (isinstance(raw, str) and not raw)
        codes[j] = 2 if unknown or int(raw) == 1 else 1
    return codes


@pytest.mark.parametrize("fmt", ["mat", "json"])
def test_dummy_build_has_every_image_and_exact_people(run_build, fmt):
    builder = run_build(DUMMY / fmt)
    examples = _examples(builder)
    assert sorted(examples) == NAMES  # the .mat test image (img_train 0) is not written
    assert builder.info.splits["train"].num_examples == 4 and builder.info.splits["validation"].num_examples == 2
    table = make_dummy_data.people_table()
    for k, name in enumerate(NAMES):
        width, height, singles, count = make_dummy_data.IMAGES[name]
        _, ex = examples[name]
        people = ex["people"]
        assert people["keypoints"].shape == (count, 16, 3) and people["keypoints"].dtype == np.float32
        assert ex["image"] == (DUMMY / fmt / "images" / name).read_bytes()
        assert (ex["image/width"], ex["image/height"]) == (width, height)
        assert np.isnan(ex["camera_pitch"]) and ex["instance_mask"] == b""
        for r, person in enumerate(table[name]):
            lab = person["labelled"]
            want_xy = np.where(lab[:, None], person["joints"] - 1.0, 0.0).astype(np.float32)  # 1-based -> 0-based
            np.testing.assert_array_equal(people["keypoints"][r, :, :2], want_xy)
            want_v = _mat_visibility(person, k + r) if fmt == "mat" else np.where(lab, 2, 0)
            np.testing.assert_array_equal(people["keypoints"][r, :, 2], want_v)
            np.testing.assert_array_equal(people["objpos"][r], (person["center"] - 1.0).astype(np.float32))
            assert people["scale"][r] == np.float32(person["scale"])
            top, neck = want_xy[9], want_xy[8]
            side = np.hypot(*(top - neck))
            want_box = (
                np.asarray(person["head_box"]) - 1.0
                if fmt == "mat"
                else np.concatenate([(top + neck) / 2 - side / 2, (top + neck) / 2 + side / 2])
            )
            np.testing.assert_allclose(people["head_box"][r], want_box, atol=1e-4)
            in_group = (r + 1) not in singles if fmt == "mat" else count >= 2
            assert people["group_id"][r] == (k if in_group else NO_GROUP)
        assert not people["is_synthetic"].any()
        assert (people["min_distance"] == ALONE_DISTANCE).all() == (count == 1)


def test_mat_unannotated_mask_and_rectangle_without_keypoints(run_build):
    builder = run_build(DUMMY / "mat")
    examples = _examples(builder)
    mask = sources.decode_example(examples["000000003.jpg"][1]).unannotated_mask
    want = np.asarray(Image.open(DUMMY / "mat/unannotated_masks/000000003.png")) > 0
    np.testing.assert_array_equal(mask, want)
    assert all(examples[n][1]["unannotated_mask"] == b"" for n in NAMES if n != "000000003.jpg")
    assert builder.report.note_counts["rect_without_keypoints"] == 1 and not builder.report.problems


@pytest.mark.parametrize("fmt", ["mat", "json"])
def test_validation_groups_are_drawn_and_their_images_left_out_of_train(run_build, fmt):
    builder = run_build(DUMMY / fmt)
    examples = _examples(builder)
    chosen = builder.info.metadata["validation_groups"]
    assert len(chosen) == 2  # 4 groups, fewer than 343: half of them
    train = {n for n, (split, _) in examples.items() if split == "train"}
    validation = {n for n, (split, _) in examples.items() if split == "validation"}
    assert not train & validation and train | validation == set(NAMES)
    for name in validation:
        assert set(examples[name][1]["people"]["group_id"]) - {NO_GROUP} <= set(chosen)
    for name in train:
        assert not set(examples[name][1]["people"]["group_id"]) & set(chosen)
    config = MpiiMultipersonConfig(name="one_group", num_validation_groups=1, split_seed=5)
    assert run_build(DUMMY / fmt, config=config).info.splits["validation"].num_examples == 1


def test_paper_count_of_validation_groups_with_enough_groups():
    from data_builders.mpii_multiperson.annotations import draw_validation_groups

    ids = list(range(0, 7600, 2))
    chosen, note = draw_validation_groups(ids, 343, seed=0)
    assert len(chosen) == len(set(chosen)) == 343 and set(chosen) <= set(ids) and note is None
    assert draw_validation_groups(ids[::-1], 343, seed=0)[0] == chosen  # input order does not matter


def test_real_samples_build_with_keypoints_equal_to_the_source(run_build):
    builder = run_build(REAL)
    records = json.loads((REAL / "test_mpii.json").read_text())
    examples = _examples(builder)
    assert sorted(examples) == sorted(r["image"] for r in records)
    assert list(builder.info.splits) == ["train"]  # one person per image: no multi-person group, no validation
    assert builder.report.note_counts["ignored_file"] == 1  # test_mpii_trb.json is another format
    for record in records:
        split, ex = examples[record["image"]]
        joints, vis = np.asarray(record["joints"]), np.asarray(record["joints_vis"])
        kp = ex["people"]["keypoints"][0]
        np.testing.assert_array_equal(kp[vis == 1, :2], (joints[vis == 1] - 1.0).astype(np.float32))
        np.testing.assert_array_equal(kp[:, 2], np.where(vis == 1, 2, 0))
        np.testing.assert_array_equal(kp[vis == 0, :2], 0.0)
        np.testing.assert_array_equal(
            ex["people"]["objpos"][0], (np.asarray(record["center"]) - 1.0).astype(np.float32)
        )
        assert ex["people"]["scale"][0] == np.float32(record["scale"])
        assert ex["image"] == (REAL / record["image"]).read_bytes()
        decoded = sources.decode_example(ex)
        assert decoded.image.shape == (ex["image/height"], ex["image/width"], 3)
        assert decoded.min_distance[0] == ALONE_DISTANCE and decoded.group_id[0] == NO_GROUP


def test_import_registers_the_builder_and_reading_needs_no_builder_code(run_build, tmp_path):
    assert "mpii_multiperson" in data_builders.BUILDERS
    assert isinstance(tfds.builder("mpii_multiperson", data_dir=tmp_path), Builder)
    with pytest.raises(FileNotFoundError, match="python -m data_builders.build mpii_multiperson"):
        splits.load_split("mpii_multiperson", "train", tmp_path)
    builder = run_build(DUMMY / "json")
    data_dir = builder.data_path.parents[2]
    source = tfds.data_source("mpii_multiperson", data_dir=data_dir, split="validation")
    assert len(source) == 2
    loaded = splits.load_split("mpii_multiperson", "validation", data_dir)
    example = sources.decode_example(loaded[0])
    assert example.keypoints.shape[1:] == (16, 2) and example.labelled.shape[1:] == (16,)
    assert example.image.dtype == np.uint8 and example.unannotated_mask is None
    with pytest.raises(KeyError, match="has no split 'test'"):
        splits.load_split("mpii_multiperson", "test", data_dir)
    metadata = tfds.builder_from_directory(str(builder.data_path)).info.metadata
    assert (
        metadata["build_report"]["problem_counts"] == {} and metadata["annotation_source"] == "train.json, valid.json"
    )


def test_the_authors_released_jpeg_masks_are_read_with_their_threshold(write_manual_dir, run_build):
    """masks/mask_<image>.jpg as the paper's authors released them: JPEG noise must not mark the whole image."""
    folder = write_manual_dir("json")
    (folder / "masks").mkdir()
    width, height = Image.open(folder / "images" / "000000002.jpg").size
    drawn = np.zeros((height, width), np.uint8)
    drawn[10:30, 20:50] = 255  # one unannotated person
    Image.fromarray(drawn).save(folder / "masks" / "mask_000000002.jpg", quality=60)
    noisy = np.asarray(Image.open(folder / "masks" / "mask_000000002.jpg").convert("L"))
    assert (noisy != 0).sum() > drawn.astype(bool).sum()  # the noise a "!= 0" reading would take for people
    mask = sources.decode_example(_examples(run_build(folder))["000000002.jpg"][1]).unannotated_mask
    np.testing.assert_array_equal(mask, noisy > 30)  # the reference's cv2.threshold(mask, 30, ...)
    assert mask[14:26, 24:46].all() and not mask[:, :16].any() and not mask[34:].any()  # by hand: the box, no noise


def test_a_validation_split_file_chooses_the_validation_images(run_build, tmp_path):
    """The paper's own split: its annotation JSON (isValidation per person record) or a list of image names."""
    import shutil

    folder = tmp_path / "manual"
    shutil.copytree(DUMMY / "json", folder)
    drawn = _examples(run_build(folder))
    in_groups = sorted(n for n, (_, ex) in drawn.items() if (ex["people"]["group_id"] != NO_GROUP).any())
    assert len(in_groups) == 4
    (folder / "val.txt").write_text(f"# the paper's validation images\n{in_groups[0]}\nimages/{in_groups[2]}\n"
                                    "999999999.jpg\n")  # fmt: skip
    paper = [{"img_paths": n, "isValidation": float(n == in_groups[1]), "joint_self": []} for n in NAMES]
    (folder / "MPI_split.json").write_text(json.dumps({"root": paper}))
    for split_file, want in [("val.txt", {in_groups[0], in_groups[2]}), ("MPI_split.json", {in_groups[1]})]:
        builder = run_build(folder, config_overrides={"validation_file": split_file})
        examples = _examples(builder)
        assert {n for n, (split, _) in examples.items() if split == "validation"} == want
        assert set(examples) == set(NAMES)  # the others train
        assert builder.info.metadata["validation_source"] == split_file
    assert builder.report.note_counts.get("validation_groups") is None
    with pytest.raises(ValueError, match="outside|'..'"):
        run_build(folder, config_overrides={"validation_file": "../val.txt"})
