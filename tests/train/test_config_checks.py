"""Out-of-range config fields stop training before any work, each error naming its field."""

import pytest

from experiments.configs import smoke
from ltsh_jax.train.config_checks import ConfigError, check_training_config
from ltsh_jax.train.loop import train_and_evaluate


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("train.num_steps", 0, r"config.train.num_steps=0 must be an integer >= 1"),
        ("train.num_steps", -5, r"config.train.num_steps=-5 must be an integer >= 1"),
        ("train.log_every", 0, r"config.train.log_every=0 must be an integer >= 1"),
        ("train.checkpoint_every", 0, r"config.train.checkpoint_every=0 must be an integer >= 1"),
        ("train.eval_every", -1, r"config.train.eval_every=-1 must be an integer >= 0"),
        ("train.batch_size", 0, r"config.train.batch_size=0 must be an integer >= 1"),
        ("data.eval_batches", 0, r"config.data.eval_batches=0"),
        ("data.input_size", 100, r"config.data.input_size=100 is not a multiple of config.data.stride=8"),
        ("optim.learning_rate", -1e-3, r"config.optim.learning_rate=-0.001 must be a finite number >= 0"),
        ("optim.learning_rate", float("nan"), r"config.optim.learning_rate=nan"),
        ("model.width", 0.0, r"config.model.width=0.0 must be a finite number > 0"),
        ("data.real_fraction", 1.5, r"config.data.real_fraction=1.5 must be in \[0, 1\]"),
    ],
)
def test_out_of_range_field_is_named(field, value, message):
    config = smoke.get_config("test")
    section, name = field.split(".")
    config[section][name] = value
    with pytest.raises(ConfigError, match=message):
        check_training_config(config)


def test_shipped_smoke_configs_pass():
    for variant in ("", "test"):
        check_training_config(smoke.get_config(variant))


def test_training_refuses_before_reading_data_or_writing_the_workdir(tmp_path):
    config = smoke.get_config("test")
    config.data.dir = str(tmp_path / "no_such_folder")  # would fail later, when the data is read
    config.train.checkpoint_every = 0
    with pytest.raises(ConfigError, match="checkpoint_every"):
        train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
