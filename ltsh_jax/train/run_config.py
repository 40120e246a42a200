"""A training run's own config: written once to RUN/config.json, read back by evaluate and predict."""

from __future__ import annotations

import json
import pathlib

import ml_collections

CONFIG_FILE = "config.json"


def run_config_path(workdir: str | pathlib.Path) -> pathlib.Path:
    """Where the run in `workdir` keeps its config."""
    return pathlib.Path(workdir).expanduser() / CONFIG_FILE


def write_run_config(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> pathlib.Path:
    """Writes `config` as the run's config (JSON, readable by a person and by `load_run_config`)."""
    path = run_config_path(workdir)
    path.write_text(config.to_json_best_effort(indent=2) + "\n")
    return path


def load_run_config(workdir: str | pathlib.Path) -> ml_collections.ConfigDict:
    """The config the run in `workdir` was trained with; a one-line error names a missing or malformed file."""
    path = run_config_path(workdir)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; is {workdir} a training run (experiments.train's --workdir)?")
    try:
        fields = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a JSON config ({error})") from None
    if not isinstance(fields, dict):
        raise ValueError(f"{path}: expected a JSON object of config fields, found {type(fields).__name__}")
    return ml_collections.ConfigDict(fields)
