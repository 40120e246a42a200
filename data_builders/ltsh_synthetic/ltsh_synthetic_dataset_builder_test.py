"""ltsh_synthetic builds: schema and labels read back, byte-identical rebuilds, configs, bad input.

Most tests swap the Anny body model for stick people (ltsh_jax/synth/stick_people.py) and use small images, so
they run in seconds and do not depend on the body model; the last one builds with the real people.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_builders.build import build
from data_builders.ltsh_synthetic import Builder, LtshSyntheticConfig
from data_builders.ltsh_synthetic import ltsh_synthetic_dataset_builder as module
from ltsh_jax.data import sources, splits
from ltsh_jax.synth import generate, places
from ltsh_jax.synth.stick_people import StickPeople

tfds.disable_progress_bar()
SMALL = {"num_train": 3, "num_validation": 2, "width": 128, "height": 128, "lam": 3.0}


@pytest.fixture
def stick_people(monkeypatch):
    monkeypatch.setattr(generate, "BodyModelPeople", StickPeople)


def _hashes(data_dir: pathlib.Path) -> dict[str, str]:
    files = sorted(data_dir.rglob("*.array_record-*"))
    assert files
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_configs_have_the_documented_sizes():
    configs = {c.name: c for c in Builder.BUILDER_CONFIGS}
    assert (configs["tiny"].num_train, configs["tiny"].num_validation) == (64, 16)
    assert configs["small"].num_train == 2_000
    paper = configs["paper"]
    assert (paper.width, paper.height, paper.lam, tuple(paper.pitch_range)) == (640, 640, 9.0, (0.0, 45.0))
    demo, pretrain = configs["demo"], configs["demo_pretrain"]
    assert (demo.num_train, demo.num_validation, pretrain.num_train) == (64, 16, 1_024)
    # the baseline's images are other renders of the demo's scenes: every scene field equal, another seed
    differ = {f.name for f in dataclasses.fields(demo) if getattr(demo, f.name) != getattr(pretrain, f.name)}
    assert differ == {"name", "description", "num_train", "seed"}


def _assert_labels_consistent(ex) -> None:
    """Every visible joint lies on its own person's instance mask; unlabelled joints are zeros; sizes are set."""
    num = ex.keypoints.shape[0]
    visible = ex.visibility == 2
    cols = np.round(ex.keypoints[..., 0]).astype(int)
    rows = np.round(ex.keypoints[..., 1]).astype(int)
    people = np.broadcast_to(np.arange(1, num + 1)[:, None], visible.shape)
    assert (ex.instance_mask[rows[visible], cols[visible]] == people[visible]).all()
    assert (ex.keypoints[ex.visibility == 0] == 0).all()
    assert (ex.scales > 0).all() and np.isfinite(ex.head_box).all()


def test_build_reads_back_with_consistent_labels(stick_people, tmp_path):
    builder = build("ltsh_synthetic", data_dir=tmp_path, config=LtshSyntheticConfig(name="t", **SMALL))
    assert builder.info.splits["train"].num_examples == 3 and builder.info.splits["validation"].num_examples == 2
    placement = builder.info.metadata["placement"]
    assert placement["attempts"] >= placement["requested"] >= 5 and 0 <= placement["overlap_rejection_rate"] < 1
    source = splits.load_split("ltsh_synthetic", "train", tmp_path, config="t")
    for i in range(len(source)):
        ex = sources.decode_example(source[i])
        assert ex.image.shape == (128, 128, 3) and 0 <= ex.camera_pitch <= 45
        num = ex.keypoints.shape[0]
        assert num >= 1 and ex.is_synthetic.all() and (ex.group_id == -1).all()
        assert ex.instance_mask is not None and ex.instance_mask.max() <= num
        _assert_labels_consistent(ex)


def test_rebuild_is_byte_identical_and_examples_depend_on_their_seed_only(stick_people, tmp_path):
    config = LtshSyntheticConfig(name="t", **SMALL)
    first = pathlib.Path(build("ltsh_synthetic", data_dir=tmp_path / "a", config=config).data_path)
    again = pathlib.Path(build("ltsh_synthetic", data_dir=tmp_path / "b", config=config).data_path)
    assert _hashes(first) == _hashes(again)
    # example 2 generated alone, by a fresh synthesizer, equals example 2 of the build
    synthesizer = generate.Synthesizer(generate.scene.SceneConfig(width=128, height=128, lam=3.0), people=StickPeople())
    key, example, _ = module.generate_example(synthesizer, 0, "train", 2)
    synthesizer.renderer.release()
    built = {
        bytes(r["image/filename"]).decode(): r
        for r in splits.load_split("ltsh_synthetic", "train", tmp_path / "a", config="t")
    }
    assert built[key]["image"] == example["image"] and built[key]["instance_mask"] == example["instance_mask"]
    np.testing.assert_array_equal(built[key]["people"]["keypoints"], example["people"]["keypoints"])


def test_name_slash_config_and_bad_configs(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        build("nope/tiny", data_dir=tmp_path)
    with pytest.raises(ValueError, match="lam"):
        build("ltsh_synthetic", data_dir=tmp_path, config=LtshSyntheticConfig(name="bad", lam=0.0, num_train=1))


@pytest.mark.slow
def test_tiny_like_build_with_the_body_model(tmp_path):
    for name in ("body_model", "poses", "appearance"):
        pytest.importorskip(f"ltsh_jax.synth.{name}")
    config = LtshSyntheticConfig(name="t", num_train=2, num_validation=1)
    builder = build("ltsh_synthetic", data_dir=tmp_path, config=config)
    ex = sources.decode_example(builder.as_data_source(split="train")[0])
    assert ex.image.shape == (640, 640, 3) and ex.keypoints.shape[0] >= 1


def test_scene_fields_reach_the_scene_and_the_learning_config_has_few_people_of_similar_size(stick_people, tmp_path):
    learning = {c.name: c for c in Builder.BUILDER_CONFIGS}["learning"]
    assert (learning.width, learning.max_humans, tuple(learning.distance_range)) == (256, 4, (5.0, 8.0))
    config = dataclasses.replace(learning, name="t", num_train=4, num_validation=0)
    build("ltsh_synthetic", data_dir=tmp_path, config=config)
    source = splits.load_split("ltsh_synthetic", "train", tmp_path, config="t")
    # Scale = focal x standing height / pelvis depth / 200. Stick people stand 1.74 m; the pelvis depth along
    # the optical axis is d cos(p) + (camera height - 0.95 m) sin(p) for ground distance d in [5, 8] m, pitch p
    # in [0, 45] degrees and camera height in [1.2, 4] m: between 5 cos 45 = 3.5 m and sqrt(8^2 + 3.05^2) = 8.6 m.
    focal_min = 256 / 2 / np.tan(np.radians(55.0) / 2)
    focal_max = 256 / 2 / np.tan(np.radians(45.0) / 2)
    for i in range(len(source)):
        ex = sources.decode_example(source[i])
        assert ex.image.shape == (256, 256, 3) and 1 <= len(ex.scales) <= 4
        heights = ex.scales * 200
        assert (heights <= focal_max * 1.74 / 3.5).all() and (heights >= focal_min * 1.74 / 8.6).all(), heights


def test_reference_and_paper_configs_follow_the_generator_and_the_papers_text():
    configs = {c.name: c for c in Builder.BUILDER_CONFIGS}
    reference, paper = configs["reference"], configs["paper"]
    assert (reference.lam, reference.count_floor, reference.stage, reference.stage_pitch) == (10.0, 2, "generator",
                                                                                               "height")  # fmt: skip
    assert (paper.lam, paper.count_floor, paper.stage, paper.stage_pitch) == (9.0, 0, "generator", "uniform")
    assert tuple(paper.pitch_range) == (0.0, 45.0)
    assert configs["tiny"].stage == "" and configs["small"].stage == ""  # the earlier settings, unchanged
    with pytest.raises(ValueError, match="stage"):
        module.make_synthesizer(dataclasses.replace(reference, stage="nope"))


def test_reference_build_keeps_every_label_invariant(stick_people, tmp_path):
    reference = {c.name: c for c in Builder.BUILDER_CONFIGS}["reference"]
    config = dataclasses.replace(reference, name="t", num_train=3, num_validation=0, width=128, height=128)
    first = pathlib.Path(build("ltsh_synthetic", data_dir=tmp_path, config=config).data_path)
    synthesizer = module.make_synthesizer(config)
    synthesizer.renderer.release()
    assert isinstance(synthesizer.background, places.ProceduralPlaces)  # a place in the stage's perspective
    source = splits.load_split("ltsh_synthetic", "train", tmp_path, config="t")
    for i in range(len(source)):
        ex = sources.decode_example(source[i])
        num = ex.keypoints.shape[0]
        assert num >= 2 and 0 <= ex.camera_pitch <= 37.2
        _assert_labels_consistent(ex)
    again = pathlib.Path(build("ltsh_synthetic", data_dir=tmp_path / "again", config=config).data_path)
    assert _hashes(first) == _hashes(again)  # the place too is drawn from the example's seed alone
