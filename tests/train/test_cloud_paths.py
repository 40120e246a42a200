"""A gs:// workdir and a gs:// TFDS data_dir, through the fake bucket of tests/fake_gcs.py: the smoke:test
student trained 2 steps into gs://bucket/run writes its config, metrics, TensorBoard events and checkpoint
into the bucket (and no local folder named `gs:`), a resume to 4 steps continues from that checkpoint, and
a dataset built into the bucket is read from gs:// (or refused with one line naming the path)."""

from __future__ import annotations

import json
import os

import pytest

from data_builders.build import build
from data_builders.mpii_multiperson.conftest import DUMMY
from experiments.configs import smoke
from ltsh_jax import paths
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.data import sources, splits
from ltsh_jax.metrics import read_metrics
from ltsh_jax.train import loop, run_config
from tests.fake_gcs import fake_gcs
from tests.paths import REAL_MPII


def _no_local_gs(*folders) -> bool:
    return not any("gs:" in n for folder in folders for _, dirs, files in os.walk(folder) for n in dirs + files)


def _config(num_steps: int):
    config = smoke.get_config("test")
    config.data.dir = str(REAL_MPII)
    config.data.annotation_file = "test_mpii.json"
    config.train.update(num_steps=num_steps, log_every=1, eval_every=0, checkpoint_every=2)
    return config


def test_training_into_a_bucket_and_resuming_there(tmp_path, monkeypatch):
    monkeypatch.chdir((tmp_path / "cwd").mkdir() or tmp_path / "cwd")
    run = tmp_path / "gcs" / "bucket" / "run"  # where the fake keeps gs://bucket/run
    with fake_gcs(tmp_path / "gcs"):
        first = loop.train_and_evaluate(_config(2), "gs://bucket/run")
        assert json.loads((run / "config.json").read_text())["train"]["num_steps"] == 2
        assert [r["step"] for r in read_metrics("gs://bucket/run")] == [1, 2]
        assert Checkpointer("gs://bucket/run/checkpoints", only_this_process=True).steps() == [2]
        assert (run / "checkpoints" / "2" / "params").is_dir() and (run / "final_metrics.json").is_file()
        assert (run / "loss.png").read_bytes().startswith(b"\x89PNG")
        assert any(f.stat().st_size for f in (run / "tensorboard").iterdir())

        resumed = loop.train_and_evaluate(_config(4), "gs://bucket/run")
        records = read_metrics("gs://bucket/run")
        assert [r["step"] for r in records] == [1, 2, 3, 4]
        assert records[1]["loss"] == first["loss"] and resumed["loss"] == records[3]["loss"]
        assert Checkpointer("gs://bucket/run/checkpoints", only_this_process=True).steps() == [2, 4]
        history = run_config.config_history("gs://bucket/run")  # num_steps may change freely, and is recorded
        assert history == [{"step": 2, "changes": {"train.num_steps": {"from": 2, "to": 4}}}]
    assert _no_local_gs(tmp_path, os.getcwd())


@pytest.fixture(scope="module")
def tfds_bucket(tmp_path_factory):
    """A fake bucket root holding the dummy mpii_multiperson build at gs://data/tfds."""
    root = tmp_path_factory.mktemp("gcs")
    build("mpii_multiperson", data_dir=root / "data" / "tfds", manual_dir=DUMMY / "json")
    return root


def test_a_tfds_dataset_in_a_bucket_is_read(tfds_bucket):
    local = sources.TfdsSource.load("mpii_multiperson", "train", tfds_bucket / "data" / "tfds")
    with fake_gcs(tfds_bucket):
        remote = sources.TfdsSource.load("mpii_multiperson", "train", "gs://data/tfds")
        assert remote.index is not None  # the annotation index, read from the bucket too
        assert str(remote.data_source.dataset_info.data_dir).startswith("gs://data/tfds/mpii_multiperson/")
        assert len(remote) == len(local) > 0
        for i in range(len(local)):
            assert remote[i].image == local[i].image and remote[i].name == local[i].name
    assert _no_local_gs(tfds_bucket, os.getcwd())


def test_unreadable_records_in_a_bucket_are_one_line(tfds_bucket, monkeypatch):
    from array_record.python import array_record_data_source

    def no_bucket(filename, options):  # what array_record says when it cannot open a file
        raise RuntimeError(f"open() failed: No such file or directory; opening {filename}")

    with fake_gcs(tfds_bucket, records=False):
        monkeypatch.setattr(array_record_data_source, "_create_reader", no_bucket)
        with pytest.raises(paths.UnsupportedPathError) as error:
            splits.load_split("mpii_multiperson", "train", "gs://data/tfds")
    message = str(error.value)
    assert message.startswith("dataset mpii_multiperson in gs://data/tfds: array_record cannot read its records in "
                              "gs://data/tfds/mpii_multiperson/")  # fmt: skip
    assert "open() failed" in message and "application default credentials" in message and "gcsfuse" in message
    assert "\n" not in message
