"""The TFDS path end to end: the dummy mpii_multiperson build read by the pipeline, dr.py:tiny training on it
with a synthetic side, the pipeline state in the checkpoint meta (restored on resume), the annotation
index the build writes (what start-up reads instead of the images), and the error that names the build
command when a dataset is not built."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pathlib
import shutil

import numpy as np
import pytest

from data_builders.build import build
from data_builders.mpii_multiperson.conftest import DUMMY
from experiments.configs import dr
from ltsh_jax.data import annotation_index, sources, splits
from ltsh_jax.data.augment import AugmentParams
from ltsh_jax.data.pipeline import Pipeline
from ltsh_jax.skeleton import CMU_MPI
from ltsh_jax.train import loop


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    build("mpii_multiperson", data_dir=data_dir, manual_dir=DUMMY / "json")
    return data_dir


def _config(data_dir, **train):
    config = dr.get_config("tiny")
    config.data.data_dir = str(data_dir)
    config.data.num_workers = 1
    config.train.update(dict(num_steps=2, log_every=1, eval_every=2, checkpoint_every=2), **train)
    return config


def test_pipeline_reads_the_built_dataset(data_dir):
    real = sources.TfdsSource.load("mpii_multiperson", "train", data_dir)
    synthetic = sources.TfdsSource.load("mpii_multiperson", "validation", data_dir)
    pipeline = Pipeline(real, synthetic, batch_size=4, seed=0, params=AugmentParams(crop_size=64),
                                       skeleton=CMU_MPI, max_people=3, synthetic_people="all", prefetch=0)  # fmt: skip
    batch = pipeline.batch(0)
    assert batch["image"].shape == (4, 64, 64, 3) and batch["is_synthetic"].sum() == 2
    assert batch["people"].valid[:, 0].all() and batch["image"].std() > 5
    assert len(pipeline.real_index) == sum(
        int(real.annotations(i).labelled.any(axis=1).sum()) for i in range(len(real))
    )


def test_tiny_dr_trains_and_saves_the_pipeline_state(data_dir, tmp_path, monkeypatch):
    config = _config(data_dir)
    config.data.real_fraction = 0.5
    config.data.synthetic.source = "tfds"  # the validation split stands in for a synthetic dataset
    config.data.synthetic.update(name="mpii_multiperson", split="validation", data_dir=str(data_dir), people="all")
    record = loop.train_and_evaluate(config, tmp_path)
    assert np.isfinite(record["loss"]) and np.isfinite(record["eval_loss"])
    meta = json.loads((tmp_path / "checkpoints" / "2" / "meta" / "metadata").read_text())
    assert meta["step"] == 2 and meta["input_pipeline"]["schedule"] == [[0, None]]

    restored = []
    real_restore = Pipeline.restore
    monkeypatch.setattr(Pipeline, "restore", lambda self, s: restored.append(s) or real_restore(self, s))
    loop.train_and_evaluate(_resume(config), tmp_path)
    assert restored == [meta["input_pipeline"]]


def _resume(config):
    config = config.copy_and_resolve_references()
    config.train.num_steps = 3
    return config


def test_missing_dataset_names_the_build_command(tmp_path):
    config = _config(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"python -m data_builders\.build mpii_multiperson --data_dir="):
        loop.train_and_evaluate(config, tmp_path / "work")
    assert not (tmp_path / "work").exists()


def _same_record(a: sources.PeopleRecord, b: sources.PeopleRecord) -> bool:
    fields = [f.name for f in dataclasses.fields(a) if f.name not in ("image", "unannotated_mask", "camera_pitch")]
    same_pitch = np.isnan(a.camera_pitch) and np.isnan(b.camera_pitch) or a.camera_pitch == b.camera_pitch
    return same_pitch and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


def test_annotation_index_gives_every_records_people_without_reading_it(data_dir, tmp_path):
    build("mpii_multiperson", data_dir=tmp_path, manual_dir=DUMMY / "mat")  # has an unannotated-people mask
    for directory, split in ((data_dir, "train"), (data_dir, "validation"), (tmp_path, "train")):
        source = sources.TfdsSource.load("mpii_multiperson", split, directory)
        plain = sources.TfdsSource(source.data_source)  # no index: TFDS decodes every feature
        assert source.index is not None and source._raw is not None and len(source.index) == len(source)
        for i in range(len(source)):
            fast, slow = source[i], plain[i]
            assert fast.image == slow.image and fast.unannotated_mask == slow.unannotated_mask
            assert _same_record(fast, slow)
            from_record = dataclasses.replace(slow, image=b"", unannotated_mask=None)
            assert _same_record(source.annotations(i), from_record), (split, i)
        if directory == tmp_path:
            assert sum(source[i].unannotated_mask is not None for i in range(len(source))) == 1
        last = len(source) - 1
        source.data_source = None  # annotations() must not touch the records any more
        assert _same_record(source.annotations(last), dataclasses.replace(from_record, image=b""))


def test_annotation_index_is_deterministic_checked_and_optional(data_dir, tmp_path, caplog):
    """A rebuild writes the same index bytes; a stale index is refused; without one, records are read."""
    folder = pathlib.Path(splits.load_split("mpii_multiperson", "train", data_dir).dataset_info.data_dir)
    again = tmp_path / "again"
    build("mpii_multiperson", data_dir=again, manual_dir=DUMMY / "json")
    for split in ("train", "validation"):
        digests = [hashlib.sha256(annotation_index.index_path(d, split).read_bytes()).hexdigest()
                   for d in (folder, again / "mpii_multiperson/default/1.0.0")]  # fmt: skip
        assert digests[0] == digests[1]
    stale = tmp_path / "stale"
    shutil.copytree(data_dir, stale)
    stale_folder = stale / folder.relative_to(data_dir)
    train_index = annotation_index.index_path(stale_folder, "train")
    shutil.copy(annotation_index.index_path(stale_folder, "validation"), train_index)
    with pytest.raises(ValueError, match="annotations-train.npz: indexes"):
        sources.TfdsSource.load("mpii_multiperson", "train", stale)
    train_index.unlink()
    with caplog.at_level(logging.WARNING):
        fallback = sources.TfdsSource.load("mpii_multiperson", "train", stale)
    assert fallback.index is None and "no annotation index" in caplog.text
    indexed = sources.TfdsSource.load("mpii_multiperson", "train", data_dir)
    assert all(_same_record(fallback.annotations(i), indexed.annotations(i)) for i in range(len(indexed)))


def test_annotation_index_round_trip_and_bad_files(tmp_path):
    examples = [
        {"people": {"scale": np.array([1.5, 2.0], np.float32), "keypoints": np.ones((2, 16, 3), np.float32)},
         "image/filename": b"a.jpg", "camera_pitch": np.float32(np.nan), "image": b"\xff\xd8..."},
        {"people": {"scale": np.array([3.0], np.float32), "keypoints": np.zeros((1, 16, 3), np.float32)},
         "image/filename": b"b.jpg", "camera_pitch": np.float32(10.0), "image": b"\xff\xd8..."},
    ]  # fmt: skip
    path = tmp_path / "annotations-x.npz"
    annotation_index.write(path, annotation_index.arrays_from_examples(examples))
    index = annotation_index.AnnotationIndex.load(path)
    assert len(index) == 2 and "image" not in index.fields
    second = index.record(1)
    assert second["image/filename"] == "b.jpg" and second["camera_pitch"] == 10.0
    np.testing.assert_array_equal(second["people"]["scale"], [3.0])
    assert index.record(0)["people"]["keypoints"].shape == (2, 16, 3)
    index.check(examples)
    changed = [examples[0], {**examples[1], "people": {**examples[1]["people"], "scale": np.array([4.0], np.float32)}}]
    with pytest.raises(ValueError, match="record 1 field people/scale differs"):
        index.check(changed)
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="annotations-x.npz: cannot read the annotation index"):
        annotation_index.AnnotationIndex.load(path)


def test_annotation_index_leaves_out_blobs_and_ragged_fields():
    examples = [{"people": {"scale": np.ones(n, np.float32), "parts": np.zeros((n, k))}, "image/filename": b"x",
                 "camera": np.zeros(k), "depth": b"\x89PNG..."} for n, k in ((1, 2), (2, 3))]  # fmt: skip
    arrays = annotation_index.arrays_from_examples(examples, encoded=("depth",))
    assert sorted(arrays) == ["format", "image/filename", "offsets", "people/scale"]
    np.testing.assert_array_equal(arrays["offsets"], [0, 1, 3])
