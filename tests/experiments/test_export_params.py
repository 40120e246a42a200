"""experiments.export_params: a run's parameters out as a small folder that init_from, evaluate and predict read."""

import jax
import numpy as np
import pytest

from experiments.export_params import export_params
from ltsh_jax.checkpoints import Checkpointer
from ltsh_jax.evaluation.run import load_student
from ltsh_jax.train.run_config import load_run_config


def test_export_holds_the_runs_parameters_only_and_its_config(trained_run, tmp_path):
    output = tmp_path / "baseline"
    assert export_params(str(trained_run), str(output)) == 3
    assert load_run_config(output).to_dict() == load_run_config(trained_run).to_dict()
    original, exported = load_student(load_run_config(trained_run), trained_run), load_student(
        load_run_config(output), output
    )  # fmt: skip
    assert exported.step == original.step == 3
    jax.tree_util.tree_map(np.testing.assert_array_equal, original.params, exported.params)
    assert (output / "metrics.jsonl").read_bytes() == (trained_run / "metrics.jsonl").read_bytes()
    assert sorted(p.name for p in (output / "checkpoints" / "3").iterdir() if p.is_dir()) == ["meta", "params"]
    assert Checkpointer(output / "checkpoints", only_this_process=True).meta(3)["exported_from"] == str(trained_run)
    with pytest.raises(FileExistsError, match="export into a new folder"):
        export_params(str(trained_run), str(output))
