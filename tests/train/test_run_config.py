"""RUN/config.json: round trip, a missing or malformed file named, a changed config refused or recorded."""

import json

import pytest

from experiments.configs import smoke
from ltsh_jax.train.run_config import (
    ConfigChangeError,
    check_resume,
    config_history,
    load_run_config,
    record_run_config,
    run_config_path,
)


def test_round_trip(tmp_path):
    config = smoke.get_config()
    record_run_config(config, tmp_path, step=0)
    loaded = load_run_config(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.model.width == config.model.width and loaded.data.input_size == config.data.input_size


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_run_config(tmp_path)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_malformed_file_is_named(tmp_path, text):
    run_config_path(tmp_path).write_text(text)
    with pytest.raises(ValueError, match="config.json"):
        load_run_config(tmp_path)


def test_a_resume_with_another_config_is_refused_naming_the_fields(tmp_path):
    record_run_config(smoke.get_config(), tmp_path, step=0)
    changed = smoke.get_config()
    changed.optim.learning_rate, changed.data.input_size = 1.0, 96
    with pytest.raises(ConfigChangeError, match=r"data.input_size: 128 -> 96; optim.learning_rate: 0.002 -> 1.0") as e:
        record_run_config(changed, tmp_path, step=40)
    assert "\n" not in str(e.value) and "--allow_config_change" in str(e.value)
    assert load_run_config(tmp_path).to_dict() == smoke.get_config().to_dict()  # nothing written


def test_an_allowed_change_is_recorded_and_the_first_config_kept(tmp_path):
    first = smoke.get_config()
    record_run_config(first, tmp_path, step=0)
    changed = smoke.get_config()
    changed.optim.learning_rate = 1e-4
    record_run_config(changed, tmp_path, step=40, allow_change=True)
    record_run_config(changed, tmp_path, step=60)  # the same config again: nothing to record
    assert config_history(tmp_path) == [{"step": 40, "changes": {"optim.learning_rate": {"from": 0.002, "to": 1e-4}}}]
    saved = json.loads(run_config_path(tmp_path).read_text())
    assert saved["optim"]["learning_rate"] == 0.002  # the file keeps the first config ...
    assert load_run_config(tmp_path).optim.learning_rate == 1e-4  # ... and readers get the one in use


def test_run_length_fields_change_without_leave_and_are_recorded(tmp_path):
    record_run_config(smoke.get_config(), tmp_path, step=0)
    longer = smoke.get_config()
    longer.train.num_steps, longer.train.checkpoint_every = 900, 50
    record_run_config(longer, tmp_path, step=300)
    assert set(config_history(tmp_path)[0]["changes"]) == {"train.num_steps", "train.checkpoint_every"}


def test_a_field_the_run_did_not_have_counts_as_a_change(tmp_path):
    config = smoke.get_config()
    record_run_config(config, tmp_path, step=0)
    saved = json.loads(run_config_path(tmp_path).read_text())
    del saved["targets"]["mask_synthetic"]  # a run started before the field existed
    run_config_path(tmp_path).write_text(json.dumps(saved))
    with pytest.raises(ConfigChangeError, match=r"targets.mask_synthetic: '\(absent\)' -> False"):
        check_resume(config, tmp_path, allow_change=False)
