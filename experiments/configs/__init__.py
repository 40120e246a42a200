"""The training configs, one module per table row, and how `--config` names them from any folder.

`--config` of the binaries is a file path (ml_collections loads it by path). `resolve_config_flag` lets it also
name a shipped config: `smoke`, `smoke.py` or `experiments/configs/smoke.py` (each with an optional
`:variant`) from a folder that has no such file, e.g. after `pip install`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

CONFIG_DIR = pathlib.Path(__file__).resolve().parent
_REPO_PREFIX = "experiments/configs/"


def config_path(name: str) -> pathlib.Path:
    """The shipped config file `name` ("smoke", "smoke.py" or "experiments/configs/smoke.py"); ValueError if none."""
    stem = name.removeprefix(_REPO_PREFIX).removesuffix(".py")
    shipped = {p.stem: p for p in CONFIG_DIR.glob("*.py") if "\ndef get_config(" in p.read_text()}
    if stem not in shipped:
        raise ValueError(f"no shipped config {name!r}; the shipped ones are {sorted(shipped)}")
    return shipped[stem]


def _resolve(value: str) -> str:
    file, sep, variant = value.partition(":")
    if os.path.exists(file) or os.path.isabs(file):
        return value
    try:
        return f"{config_path(file)}{sep}{variant}"
    except ValueError:
        return value  # not a shipped name either: ml_collections reports the missing file as usual


def resolve_config_flag(argv: Sequence[str]) -> list[str]:
    """argv with a `--config=X` / `--config X` that is not a file but names a shipped config pointed at it."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg.startswith("--config="):
            out[i] = "--config=" + _resolve(arg.removeprefix("--config="))
        elif arg == "--config" and i + 1 < len(out):
            out[i + 1] = _resolve(out[i + 1])
    return out
