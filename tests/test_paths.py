"""ltsh_jax.paths on a local folder and on gs:// through the fake bucket (tests/fake_gcs.py), and what reads
and writes through it: metrics.jsonl (append, torn last line, resume cut), config.json, the annotation index,
a user's MPII folder with its confinement rules, and TensorBoard events."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

from ltsh_jax import metrics, paths
from ltsh_jax.data import annotation_index, sources
from ltsh_jax.data.user_paths import UnsafePathError, confined_path
from ltsh_jax.train import run_config
from tests.fake_gcs import fake_gcs
from tests.paths import REAL_MPII


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """gs://b/... is tmp_path/gcs/b/...; the working directory is tmp_path/cwd (to see a stray local `gs:`)."""
    monkeypatch.chdir((tmp_path / "cwd").mkdir() or tmp_path / "cwd")
    with fake_gcs(tmp_path / "gcs") as fake:
        yield fake
    assert not any("gs:" in name for _, dirs, files in os.walk(tmp_path) for name in dirs + files)


@pytest.fixture(params=["local", "gs"])
def folder(request, tmp_path, bucket):
    """A run folder: a local one, or one in the fake bucket. (folder, where its files really are)."""
    if request.param == "local":
        return str(tmp_path / "run"), tmp_path / "run"
    return "gs://b/run", tmp_path / "gcs" / "b" / "run"


def test_as_path_keeps_a_uri_and_expands_a_home():
    assert str(paths.as_path("gs://bucket/run") / "checkpoints") == "gs://bucket/run/checkpoints"
    assert str(paths.as_path(pathlib.Path("gs://bucket/run"))) != "gs://bucket/run"  # what pathlib did to it
    assert str(paths.as_path("~/runs")) == str(pathlib.Path("~/runs").expanduser())
    assert paths.is_local("/tmp/x") and paths.is_local(pathlib.Path("rel")) and paths.is_local("C:\\x")
    assert not paths.is_local("gs://b/x") and not paths.is_local(paths.as_path("gs://b/x") / "y")


def test_require_local_names_what_and_why():
    assert paths.require_local("~/images", "--images_dir", "Pillow reads it") == pathlib.Path("~/images").expanduser()
    with pytest.raises(paths.UnsupportedPathError) as error:
        paths.require_local("gs://b/images", "--images_dir", "the renderer opens files by name")
    message = str(error.value)
    assert message.startswith("--images_dir gs://b/images must be a local path: the renderer opens files by name")
    assert "gcsfuse" in message and "\n" not in message


def test_write_atomically_replaces_whole_files(folder):
    name, real = folder
    paths.write_atomically(f"{name}/sub/a.json", "first")
    assert paths.write_atomically(f"{name}/sub/a.json", b"second") == paths.as_path(f"{name}/sub/a.json")
    assert (real / "sub" / "a.json").read_bytes() == b"second"
    assert sorted(os.listdir(real / "sub")) == ["a.json"]  # no temporary left behind


def test_append_and_truncate(folder):
    name, real = folder
    paths.as_path(name).mkdir(parents=True, exist_ok=True)
    paths.append_text(f"{name}/log.txt", "one\n")
    paths.append_text(f"{name}/log.txt", "two\n")
    assert (real / "log.txt").read_text() == "one\ntwo\n"
    paths.truncate(f"{name}/log.txt", 4)
    assert (real / "log.txt").read_text() == "one\n"


def test_metrics_append_cut_and_torn_line(folder):
    name, real = folder
    writer = metrics.MetricsWriter(name)
    for step in (1, 2, 3):
        writer.write(step, {"loss": np.float32(1.0 / step)})
    writer.close()
    assert [r["step"] for r in metrics.read_metrics(name)] == [1, 2, 3]
    with open(real / metrics.METRICS_FILE, "a") as f:
        f.write('{"step": 4, "lo')  # a kill mid-write of a local file (or a file copied up from one)
    assert [r["step"] for r in metrics.read_metrics(name)] == [1, 2, 3]
    metrics.cut_after(name, 2)  # a resume from step 2: later lines and the torn one go
    assert (real / metrics.METRICS_FILE).read_text().splitlines() == [
        '{"step": 1, "loss": 1.0}',
        '{"step": 2, "loss": 0.5}',
    ]
    resumed = metrics.MetricsWriter(name, resume_step=2)
    resumed.write(3, {"loss": 0.25})
    resumed.close()
    assert [(r["step"], r["loss"]) for r in metrics.read_metrics(name)] == [(1, 1.0), (2, 0.5), (3, 0.25)]
    events = list((real / "tensorboard").iterdir())
    assert events and all(e.name.startswith("events.out.tfevents") and e.stat().st_size > 0 for e in events)


def test_run_config_round_trip(folder):
    import ml_collections

    name, real = folder
    config = ml_collections.ConfigDict({"train": {"num_steps": 2}, "seed": 0})
    assert str(run_config.record_run_config(config, name, 0)) == f"{name}/config.json"
    config.train.num_steps = 4
    run_config.record_run_config(config, name, 2)
    assert run_config.load_run_config(name).train.num_steps == 4
    assert run_config.config_history(name) == [{"step": 2, "changes": {"train.num_steps": {"from": 2, "to": 4}}}]
    assert sorted(os.listdir(real)) == ["config.json"]


def test_annotation_index_round_trip(folder):
    name, _ = folder
    arrays = {"format": np.array([1]), "offsets": np.array([0, 1]), "people/objpos": np.ones((1, 2), np.float32)}
    path = annotation_index.index_path(name, "train")
    annotation_index.write(path, arrays)
    index = annotation_index.AnnotationIndex.load(path)
    assert len(index) == 1 and np.array_equal(index.people["objpos"], arrays["people/objpos"])


def test_mpii_folder_in_the_bucket(tmp_path, bucket):
    real = tmp_path / "gcs" / "b" / "mpii"
    real.mkdir(parents=True)
    for file in REAL_MPII.iterdir():
        (real / file.name).write_bytes(file.read_bytes())
    local = sources.MpiiJsonSource.from_folder(REAL_MPII, "test_mpii.json")
    remote = sources.MpiiJsonSource.from_folder("gs://b/mpii", "test_mpii.json")
    assert [str(r.image_path) for r in remote.records] == [f"gs://b/mpii/{r.image_path.name}" for r in local.records]
    assert remote[0].image == local[0].image and np.array_equal(remote[0].keypoints, local[0].keypoints)


@pytest.mark.parametrize(
    "name, message",
    [
        ("../secret.jpg", r"contains '\.\.'"),
        ("images/../../secret.jpg", r"contains '\.\.'"),
        ("images\\..\\..\\x.jpg", r"contains '\.\.'"),
        ("/etc/passwd", r"is absolute"),
        ("C:\\secret.jpg", r"is absolute"),
        ("", r"must be a non-empty relative path"),
    ],
)
def test_confinement_holds_in_a_bucket(bucket, name, message):
    with pytest.raises(UnsafePathError, match=message):
        confined_path("gs://b/mpii", name, "ann.json record 0")


@pytest.mark.parametrize("name", ["images/a.jpg", "./images/a.jpg", "images\\a.jpg", "gs://other/x.jpg"])
def test_names_in_a_bucket_stay_in_it(bucket, name):
    path = confined_path("gs://b/mpii", name)
    assert str(path).startswith("gs://b/mpii/") and ".." not in path.parts
