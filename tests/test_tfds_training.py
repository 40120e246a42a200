"""The TFDS path end to end: the dummy mpii_multiperson build read by the pipeline, dr.py:tiny training on it
with a synthetic side, the pipeline state in the checkpoint meta (restored on resume), and the error
that names the build command when a dataset is not built."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_builders.build import build
from data_builders.mpii_multiperson.conftest import DUMMY
from experiments.configs import dr
from ltsh_jax import input_pipeline, sources, train_lib
from ltsh_jax.augment import AugmentParams
from ltsh_jax.skeleton import CMU_MPI


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
    pipeline = input_pipeline.Pipeline(real, synthetic, batch_size=4, seed=0, params=AugmentParams(crop_size=64),
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
    record = train_lib.train_and_evaluate(config, tmp_path)
    assert np.isfinite(record["loss"]) and np.isfinite(record["eval_loss"])
    meta = json.loads((tmp_path / "checkpoints" / "2" / "meta" / "metadata").read_text())
    assert meta["step"] == 2 and meta["input_pipeline"]["schedule"] == [[0, None]]

    restored = []
    real_restore = input_pipeline.Pipeline.restore
    monkeypatch.setattr(input_pipeline.Pipeline, "restore", lambda self, s: restored.append(s) or real_restore(self, s))
    train_lib.train_and_evaluate(_resume(config), tmp_path)
    assert restored == [meta["input_pipeline"]]


def _resume(config):
    config = config.copy_and_resolve_references()
    config.train.num_steps = 3
    return config


def test_missing_dataset_names_the_build_command(tmp_path):
    config = _config(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"python -m data_builders\.build mpii_multiperson --data_dir="):
        train_lib.train_and_evaluate(config, tmp_path / "work")
    assert not (tmp_path / "work").exists()
