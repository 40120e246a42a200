"""Fixtures of the mpii_multiperson tests: paths, a builder runner, and manual_dirs written from the dummy table."""

from __future__ import annotations

import pathlib
import shutil

import pytest
import tensorflow_datasets as tfds

from data_builders.build import build
from data_builders.mpii_multiperson.dummy_data import make_dummy_data

HERE = pathlib.Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"
REAL = HERE.parents[2] / "shared/data/real_samples/mpii"  # the repository's sibling ../shared

tfds.disable_progress_bar()


@pytest.fixture
def run_build(tmp_path_factory):
    """build(manual_dir, **kwargs) into a fresh data_dir; returns the builder."""

    def run(manual_dir, **kwargs) -> tfds.core.DatasetBuilder:
        data_dir = tmp_path_factory.mktemp("data")
        return build("mpii_multiperson", data_dir=data_dir, manual_dir=manual_dir, **kwargs)

    return run


@pytest.fixture
def write_manual_dir(tmp_path):
    """write(fmt, edit=None) -> a manual_dir in `fmt` ("mat" or "json") from the dummy table, edited first."""

    def write(fmt: str, edit=None) -> pathlib.Path:
        table = make_dummy_data.people_table()
        if edit is not None:
            edit(table)
        folder = tmp_path / fmt
        shutil.copytree(DUMMY / fmt / "images", folder / "images")
        (make_dummy_data.write_mat if fmt == "mat" else make_dummy_data.write_json)(folder, table)
        return folder

    return write
