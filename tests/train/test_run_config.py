"""The run's config round-trips through RUN/config.json; a missing or malformed file is named."""

import pytest

from experiments.configs import smoke
from ltsh_jax.train.run_config import load_run_config, run_config_path, write_run_config


def test_round_trip(tmp_path):
    config = smoke.get_config()
    write_run_config(config, tmp_path)
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
