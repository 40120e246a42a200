"""Every experiment config: one variant check, and a config.teacher section with the base config's fields."""

import importlib

import pytest

from experiments.configs import demo, learning_check
from experiments.configs.common import base_config
from ltsh_jax.train.run_config import load_run_config
from tests.paths import REPO

CONFIGS = sorted(
    p.stem
    for p in (REPO / "experiments" / "configs").glob("*.py")
    if p.stem not in ("__init__", "common", "teacher_common")
)
TEACHER_ROWS = {"teacher_c", "teacher_md", "teacher_joint"}


@pytest.mark.parametrize("name", CONFIGS)
def test_unknown_variant_names_the_config(name):
    module = importlib.import_module(f"experiments.configs.{name}")
    with pytest.raises(ValueError, match=rf"unknown {name} variant 'no_such_variant': use one of"):
        module.get_config("no_such_variant")


@pytest.mark.parametrize("name", CONFIGS)
def test_teacher_section_has_the_base_fields_and_is_on_only_for_teacher_runs(name):
    config = importlib.import_module(f"experiments.configs.{name}").get_config()
    assert set(config.teacher) == set(base_config().teacher)
    assert config.teacher.enabled == (name in TEACHER_ROWS)
    if config.teacher.enabled:
        assert config.teacher.input_size == config.data.input_size  # the paper's crop, seen by the teacher


def test_the_demo_teacher_differs_from_the_paper_teacher_only_where_it_says():
    demo = importlib.import_module("experiments.configs.demo").get_config("teacher").teacher
    base = base_config().teacher
    changed = {k for k in base if demo[k] != base[k]}
    assert changed == {"enabled", "num_groups", "every_n", "alpha", "history", "learning_rate", "width", "input_size"}


def test_the_from_baseline_learning_check_is_the_shipped_baselines_student():
    """learning_check.py:from_baseline fine-tunes experiments/baselines/demo: same network, crops and people size."""
    config, baseline = learning_check.get_config("from_baseline"), load_run_config(demo.BASELINE)
    assert config.init_from == str(demo.BASELINE)
    model, shipped = config.model.to_dict(), baseline.model.to_dict()
    model.pop("vgg_weights"), shipped.pop("vgg_weights")  # init_from replaces the VGG start
    assert model == shipped
    assert (config.data.input_size, config.data.stride) == (baseline.data.input_size, baseline.data.stride)
    assert config.data.augment.target_scale == baseline.data.augment.target_scale
    assert not learning_check.get_config().init_from  # the default variant starts from scratch
