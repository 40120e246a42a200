"""experiments.reproduce: row order, the missing-dataset error, the table built from the runs' own files, resume."""

import dataclasses
import json

import pytest

from data_builders.build import build
from experiments import reproduce, tables
from ltsh_jax.evaluation import comparison
from ltsh_jax.evaluation.run import EvalSettings
from tests.paths import REPO

DUMMY_JSON = REPO / "data_builders" / "mpii_multiperson" / "dummy_data" / "json"


def test_baseline_runs_before_the_rows_fine_tuned_from_it():
    for table in tables.TABLES:
        keys = [row.key for row in tables.rows_to_run(table)]
        assert len(keys) == len(set(keys))
        for row in tables.rows_to_run(table):
            if row.init_from:
                assert keys.index(row.init_from) < keys.index(row.key)
    assert [r.key for r in tables.rows_to_run(2)][0] == "dr"  # table 2 shows no D_R row but needs it
    with pytest.raises(ValueError, match="--table"):
        tables.rows_to_run(4)


def test_every_row_config_loads_in_both_variants(tmp_path):
    for row in tables.ROWS.values():
        for variant in ("", "tiny"):
            config = reproduce.row_config(row, variant, tmp_path, "/data/tfds")
            assert config.data.data_dir == "/data/tfds"
            assert (config.init_from == str(tmp_path / "dr")) == (row.init_from == "dr")
            if row.init_from:  # fine-tuning with synthetic data: first four layers frozen, half-real batches
                assert config.optim.freeze and config.data.real_fraction == 0.5
                assert config.data.synthetic.data_dir == "/data/tfds"


def test_a_missing_dataset_names_the_build_command(tmp_path):
    config = reproduce.row_config(tables.D_R_S, "tiny", tmp_path, str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="python -m data_builders.build mpii_multiperson"):
        reproduce.check_datasets(config, tables.D_R_S)
    config = reproduce.row_config(tables.D_S, "tiny", tmp_path, str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match=r"build ltsh_synthetic/tiny --data_dir=\S+nothing$"):
        reproduce.check_datasets(config, tables.D_S)  # generated data: no manual_dir in the command


def test_comparison_table_puts_ours_beside_the_paper():
    ours = dict(zip(tables.COLUMNS, (90.0, 80, 70, 60, 50, 40, 30, 77.0), strict=True))
    text = comparison.comparison_table([("D_R", ours, tables.D_R.paper_table()), ("D_S", None, None)])
    lines = text.splitlines()
    assert lines[2].split("|")[1:4] == [" D_R ", " ours ", " 90.0 "]
    assert lines[2].rstrip(" |").endswith("-0.7")  # 77.0 - 77.7
    assert "77.7" in lines[3] and "paper" in lines[3]
    assert "not run" in lines[4]


def test_reproduce_writes_the_table_from_its_runs_and_resumes(tmp_path, monkeypatch):
    data_dir = tmp_path / "tfds"
    build("mpii_multiperson", data_dir=data_dir, manual_dir=DUMMY_JSON)
    finetuned = tables.Row("dr_again", "D_R fine-tuned", "dr", tables.D_R.paper, init_from="dr")
    monkeypatch.setitem(tables.TABLES, 9, (tables.D_R, finetuned))
    monkeypatch.setitem(tables.ROWS, "dr_again", finetuned)
    settings = EvalSettings(split="validation", data_dir=str(data_dir), scales=(1.0,), flip=False,
                            max_images=2, pictures=1, multi_person_groups=False)  # fmt: skip
    workdir = tmp_path / "work"
    reproduce.reproduce(9, workdir, settings, "tiny", num_steps=2)

    written = (workdir / "table9.md").read_text()
    for key in ("dr", "dr_again"):
        results = json.loads((workdir / key / "eval_validation" / "results.json").read_text())
        assert results["run"]["checkpoint_step"] == 2
        assert f"{results['table']['Head']:.1f}" in written
    assert (workdir / "figure6_table9.png").stat().st_size > 0
    assert "initialised" not in (workdir / "dr").joinpath("config.json").read_text()
    assert json.loads((workdir / "dr_again" / "config.json").read_text())["init_from"] == str(workdir / "dr")

    # A second run after a "kill" that lost one evaluation: nothing retrains, only that evaluation is redone.
    metrics_before = (workdir / "dr" / "metrics.jsonl").read_text()
    kept = (workdir / "dr" / "eval_validation" / "results.json").stat().st_mtime_ns
    (workdir / "dr_again" / "eval_validation" / "results.json").unlink()
    reproduce.reproduce(9, workdir, settings, "tiny", num_steps=2)
    assert (workdir / "dr" / "metrics.jsonl").read_text() == metrics_before
    assert (workdir / "dr" / "eval_validation" / "results.json").stat().st_mtime_ns == kept
    assert (workdir / "dr_again" / "eval_validation" / "results.json").exists()

    # Other test scales: both rows are evaluated again (not the cached numbers under the new label) ...
    rescaled = dataclasses.replace(settings, scales=(0.7, 1.0))
    reproduce.reproduce(9, workdir, rescaled, "tiny", num_steps=2)
    for key in ("dr", "dr_again"):
        results = json.loads((workdir / key / "eval_validation" / "results.json").read_text())
        assert results["run"]["settings"]["scales"] == [0.7, 1.0], key
    # ... and the same settings once more reuse them.
    kept = (workdir / "dr" / "eval_validation" / "results.json").stat().st_mtime_ns
    reproduce.reproduce(9, workdir, rescaled, "tiny", num_steps=2)
    assert (workdir / "dr" / "eval_validation" / "results.json").stat().st_mtime_ns == kept


def test_rows_from_scratch_refuse_to_start_without_vgg_weights(tmp_path):
    """The paper's D_R and D_S start from ImageNet VGG-19: without a file (or 'scratch') reproduce stops first."""
    for row in (tables.D_R, tables.D_S):
        run_dir = tmp_path / row.key
        config = reproduce.row_config(row, "", tmp_path, "/data/tfds")
        with pytest.raises(ValueError, match=rf"row {row.label}: .*\.h5.*\.npz.*--vgg_weights=PATH.*scratch"):
            reproduce.check_backbone(config, row, run_dir)
        reproduce.check_backbone(reproduce.row_config(row, "", tmp_path, "/data", vgg_weights="scratch"), row, run_dir)
        reproduce.check_backbone(reproduce.row_config(row, "tiny", tmp_path, "/data"), row, run_dir)  # CPU runs
        missing = reproduce.row_config(row, "", tmp_path, "/data", vgg_weights=str(tmp_path / "vgg19.h5"))
        with pytest.raises(FileNotFoundError, match=rf"row {row.label}: .*vgg19\.h5"):
            reproduce.check_backbone(missing, row, run_dir)
    fine_tuned = reproduce.row_config(tables.D_R_S, "", tmp_path, "/data/tfds")
    assert fine_tuned.model.vgg_weights == "" and fine_tuned.init_from  # starts from the D_R run instead
    reproduce.check_backbone(fine_tuned, tables.D_R_S, tmp_path / "dr_ds")


def test_tables_are_scored_without_test_time_flip_by_default_and_say_so():
    """The paper (tf_pose/eval_MPI.py) and CMU's applyModel.m score without flipping; --flip is an option."""
    assert reproduce._FLIP.default is False
    assert not EvalSettings(flip=reproduce._FLIP.default).flip
    plain = reproduce.table_header(1, EvalSettings(flip=False), "")
    assert "no test-time flip (as the paper)" in plain and "scales [0.7, 1.0, 1.3]" in plain
    assert "with test-time flip (the paper scored without: not comparable)" in reproduce.table_header(
        1, EvalSettings(flip=True), ""
    )
