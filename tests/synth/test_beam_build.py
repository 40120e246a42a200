"""The Apache Beam path of ltsh_synthetic writes what the plain path writes; --config_override names and errors.

The equivalence test builds one small derived config (tiny with 6 + 2 images of stick people at 128x128,
ltsh_jax/synth/stick_people.py) into two data_dirs, once in this process and once through Beam (the in-process
FnApiRunner, which sees the stick-people patch), and compares the written records one by one in file order,
the annotation indexes and the placement statistics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds
from array_record.python.array_record_module import ArrayRecordReader

from data_builders import build as build_module
from data_builders.build import build, override_config, parse_overrides
from data_builders.ltsh_synthetic import Builder
from ltsh_jax.synth import generate
from ltsh_jax.synth.stick_people import StickPeople

pytest.importorskip("apache_beam")
tfds.disable_progress_bar()
SMALL = {"num_train": "6", "num_validation": "2", "width": "128", "height": "128", "lam": "3"}


@pytest.fixture
def stick_people(monkeypatch):
    monkeypatch.setattr(generate, "BodyModelPeople", StickPeople)


def _records(folder: pathlib.Path, split: str) -> list[bytes]:
    """Every record of a split, in file order (shards in order)."""
    records = []
    for path in sorted(folder.glob(f"ltsh_synthetic-{split}.array_record-*")):
        reader = ArrayRecordReader(str(path))
        records += reader.read_all()
        reader.close()
    return records


def test_beam_and_plain_builds_write_the_same_records(stick_people, tmp_path, capsys):
    plain = build("ltsh_synthetic/tiny", data_dir=tmp_path / "plain", config_overrides=SMALL)
    argv = ["ltsh_synthetic/tiny", f"--data_dir={tmp_path / 'beam'}", "--beam"]
    for field, value in SMALL.items():
        argv += ["--config_override", f"{field}={value}"]
    build_module.main(argv)
    name = plain.builder_config.name
    assert re.fullmatch(r"tiny_[0-9a-f]{8}", name) and f"config {name}:" in capsys.readouterr().out
    plain_dir = pathlib.Path(plain.data_dir)
    beam_dir = tmp_path / "beam" / "ltsh_synthetic" / name / "1.0.0"
    assert beam_dir.is_dir() and not (tmp_path / "beam" / "ltsh_synthetic" / "tiny").exists()

    for split, count in (("train", 6), ("validation", 2)):
        ours, theirs = _records(plain_dir, split), _records(beam_dir, split)
        assert len(ours) == count and ours == theirs  # same bytes, same order
        source = plain.as_data_source(split=split)
        keys = sorted(bytes(source[i]["image/filename"]).decode() for i in range(len(source)))
        assert keys == [f"{split}/{i:07d}.jpg" for i in range(count)]
        index_a = np.load(plain_dir / f"annotations-{split}.npz", allow_pickle=False)
        index_b = np.load(beam_dir / f"annotations-{split}.npz", allow_pickle=False)
        assert sorted(index_a.files) == sorted(index_b.files) and index_a.files
        for key in index_a.files:
            np.testing.assert_array_equal(index_a[key], index_b[key], err_msg=key)
    # the placement statistics come back from Beam counters, summed over both splits like the plain path's
    placement = json.loads((plain_dir / "metadata.json").read_text())["placement"]
    assert placement == json.loads((beam_dir / "metadata.json").read_text())["placement"]
    assert placement["requested"] >= 8 and placement["attempts"] >= placement["requested"] - placement["dropped"]
    shards = {p.name for p in plain_dir.glob("*.array_record-*")}
    assert shards == {p.name for p in beam_dir.glob("*.array_record-*")}


def test_overrides_parse_and_give_a_stable_derived_name():
    overrides = parse_overrides(["num_train=500", "background_dir=/data/photos", "pitch_range=5, 30"])
    assert overrides == {"num_train": "500", "background_dir": "/data/photos", "pitch_range": "5, 30"}
    config = override_config(Builder, "tiny", overrides)
    tiny = Builder.builder_configs["tiny"]
    assert (config.num_train, config.background_dir, config.pitch_range) == (500, "/data/photos", (5.0, 30.0))
    assert type(config.num_train) is int and all(type(v) is float for v in config.pitch_range)
    unchanged = [f.name for f in dataclasses.fields(tiny) if f.name not in ("name", "description")]
    unchanged = [f for f in unchanged if f not in overrides]
    assert all(getattr(config, f) == getattr(tiny, f) for f in unchanged)
    assert tiny.num_train == 64 and tiny.name == "tiny"  # the registered config is untouched
    # the name: tiny_ + 8 hex digits of a hash of the changed fields, whatever their order on the command line
    assert re.fullmatch(r"tiny_[0-9a-f]{8}", config.name)
    assert override_config(Builder, "tiny", dict(reversed(overrides.items()))).name == config.name
    assert override_config(Builder, "tiny", {**overrides, "num_train": "501"}).name != config.name
    assert override_config(Builder, "small", overrides).name.startswith("small_")
    expected = {"background_dir": "/data/photos", "num_train": 500, "pitch_range": [5.0, 30.0]}
    assert config.name == "tiny_" + hashlib.sha256(json.dumps(expected, sort_keys=True).encode()).hexdigest()[:8]
    # a value equal to the config's changes nothing: same config, same folder; None from "none"
    assert override_config(Builder, "tiny", {"num_train": "64", "lam": "9"}) is tiny
    assert override_config(Builder, None, {"background_dir": "none"}) is tiny
    assert override_config(Builder, "tiny", {"lam": "2.5"}).lam == 2.5


def test_override_errors_name_the_field(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"no config field bogus, name; valid: \[.*'background_dir'.*'num_train'"):
        override_config(Builder, "tiny", {"bogus": "1", "name": "x"})
    with pytest.raises(ValueError, match="num_train: expected int, got 'many'"):
        override_config(Builder, "tiny", {"num_train": "many"})
    with pytest.raises(ValueError, match="pitch_range: expected 2 comma-separated values"):
        override_config(Builder, "tiny", {"pitch_range": "5"})
    with pytest.raises(ValueError, match="has no config 'huge'"):
        override_config(Builder, "huge", {"seed": "1"})
    with pytest.raises(ValueError, match="expected FIELD=VALUE"):
        parse_overrides(["num_train"])
    with pytest.raises(ValueError, match="given twice"):
        parse_overrides(["seed=1", "seed=2"])
    with pytest.raises(ValueError, match=r"mpii_multiperson/default has no config field seed; valid: \['num_valid"):
        build("mpii_multiperson", data_dir=tmp_path, config_overrides={"seed": "1"})
    with pytest.raises(ValueError, match=r"one process only; --beam and --beam_options work for \['ltsh_synthetic'\]"):
        build("ltsh_mixed/tiny", data_dir=tmp_path, beam=True)
    with pytest.raises(SystemExit) as exit_info:
        build_module.main(["ltsh_synthetic/tiny", f"--data_dir={tmp_path}", "--config_override", "nope=3"])
    assert exit_info.value.code == 2 and "no config field nope; valid:" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was built


def test_beam_options_choose_the_runner():
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    local = build_module.beam_download_kwargs()
    direct = local["beam_options"].view_as(DirectOptions)
    assert isinstance(local["beam_runner"], FnApiRunner)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("in_memory", 1)
    parallel = build_module.beam_download_kwargs("--direct_running_mode=multi_processing --direct_num_workers=4")
    assert parallel["beam_options"].view_as(DirectOptions).direct_num_workers == 4
    cluster = build_module.beam_download_kwargs("--runner=DataflowRunner --project=p")
    assert cluster["beam_runner"] is None
    assert cluster["beam_options"].view_as(StandardOptions).runner == "DataflowRunner"


@pytest.mark.slow
def test_worker_processes_write_the_same_records_with_the_body_model(tmp_path):
    """Two Beam worker processes (each its own body model and GL context; serialization unpatched there but
    done by data_builders.base.DeterministicExampleSerializer) write the plain path's bytes.

    Needs the repository root as the working directory: the workers import data_builders from it.
    """
    for name in ("body_model", "poses", "appearance"):
        pytest.importorskip(f"ltsh_jax.synth.{name}")
    overrides = {"num_train": "3", "num_validation": "1", "width": "256", "height": "256"}
    plain = build("ltsh_synthetic/tiny", data_dir=tmp_path / "plain", config_overrides=overrides)
    workers = build(
        "ltsh_synthetic/tiny",
        data_dir=tmp_path / "workers",
        config_overrides=overrides,
        beam_options="--direct_running_mode=multi_processing --direct_num_workers=2",
    )
    for split in ("train", "validation"):
        ours = _records(pathlib.Path(plain.data_dir), split)
        assert ours and ours == _records(pathlib.Path(workers.data_dir), split)
    assert plain.info.metadata["placement"] == workers.info.metadata["placement"]
