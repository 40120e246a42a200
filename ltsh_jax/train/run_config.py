"""A training run's own config: RUN/config.json, written by the first start and kept, read by evaluate and predict.

The file holds the first config's fields plus, once a resume changed something, a `config_history`: one
entry per change, {"step": the checkpoint the changed run resumed from, "changes": {"a.b": {"from": x,
"to": y}}}. A resume whose config differs from the run's is refused (`ConfigChangeError`) unless the
caller allows it; only the fields in `FREE_FIELDS`, which do not change what a step computes, may change
without leave (they are recorded all the same). `load_run_config` gives the config the run now uses.
RUN may be a local folder or a cloud URI (`gs://bucket/run`, ltsh_jax.paths).
"""

from __future__ import annotations

import json
import os
from typing import Any

import ml_collections
from etils import epath

from ltsh_jax import paths

CONFIG_FILE = "config.json"
HISTORY = "config_history"
# How long a run goes and how it is logged, saved and fed: a resume may change these freely.
FREE_FIELDS = frozenset({
    "train.num_steps", "train.log_every", "train.eval_every", "train.checkpoint_every", "train.max_checkpoints",
    "train.max_skip_streak", "train.record_inputs", "data.num_workers", "data.prefetch",
})  # fmt: skip


class RunConfigError(ValueError):
    """RUN/config.json is missing, malformed, or does not match what is asked of the run."""


class RunConfigMissing(RunConfigError, FileNotFoundError):
    """The folder has no config.json: not a training run."""


class ConfigChangeError(RunConfigError):
    """A resume with a config other than the run's, without leave to change it."""


def run_config_path(workdir: str | os.PathLike) -> epath.Path:
    """Where the run in `workdir` keeps its config."""
    return paths.as_path(workdir) / CONFIG_FILE


def _fields(config: ml_collections.ConfigDict) -> dict:
    """The config as plain JSON values (what config.json holds, so that comparisons see the same types)."""
    return json.loads(config.to_json_best_effort())


def _flat(fields: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _apply(fields: dict, changes: dict[str, dict]) -> None:
    """Applies one history entry's changes to nested `fields` in place."""
    for name, change in changes.items():
        *parents, leaf = name.split(".")
        node = fields
        for parent in parents:
            node = node.setdefault(parent, {})
        if "to" in change:
            node[leaf] = change["to"]
        else:
            node.pop(leaf, None)


def differences(old: dict, new: dict) -> dict[str, dict]:
    """{dotted field: {"from": old value, "to": new value}} of the fields that differ (a side missing when the
    field is absent there)."""
    a, b = _flat(old), _flat(new)
    out = {}
    for name in sorted(a.keys() | b.keys()):
        if a.get(name, ...) != b.get(name, ...):
            out[name] = {**({"from": a[name]} if name in a else {}), **({"to": b[name]} if name in b else {})}
    return out


def _read(workdir: str | os.PathLike) -> tuple[dict, list[dict]] | None:
    """(first config's fields, history) of the run, None when it has no config.json yet."""
    path = run_config_path(workdir)
    if not path.is_file():
        return None
    try:
        fields = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunConfigError(f"{path}: not a JSON config ({error})") from None
    if not isinstance(fields, dict):
        raise RunConfigError(f"{path}: expected a JSON object of config fields, found {type(fields).__name__}")
    history = fields.pop(HISTORY, [])
    return fields, history


def _read_existing(workdir: str | os.PathLike) -> tuple[dict, list[dict]]:
    found = _read(workdir)
    if found is None:
        path = run_config_path(workdir)
        raise RunConfigMissing(f"{path}: no such file; is {workdir} a training run (experiments.train's --workdir)?")
    return found


def _current(first: dict, history: list[dict]) -> dict:
    fields = json.loads(json.dumps(first))
    for entry in history:
        _apply(fields, entry["changes"])
    return fields


def _describe(changes: dict[str, dict]) -> str:
    shown = [f"{name}: {c.get('from', '(absent)')!r} -> {c.get('to', '(absent)')!r}" for name, c in changes.items()]
    return "; ".join(shown[:8]) + (f"; and {len(shown) - 8} more" if len(shown) > 8 else "")


def check_resume(config: ml_collections.ConfigDict, workdir: str | os.PathLike, allow_change: bool) -> dict:
    """The changes of `config` from the config the run in `workdir` uses ({} for a new run); ConfigChangeError
    (one line naming the fields) when a field outside FREE_FIELDS changed and `allow_change` is False."""
    found = _read(workdir)
    if found is None:
        return {}
    changes = differences(_current(*found), _fields(config))
    locked = {name: change for name, change in changes.items() if name not in FREE_FIELDS}
    if locked and not allow_change:
        raise ConfigChangeError(
            f"{run_config_path(workdir)}: this run was trained with another config ({_describe(locked)}); "
            "rerun with the run's config, or pass --allow_config_change to continue with this one "
            f"(recorded in {CONFIG_FILE}'s {HISTORY})"
        )
    return changes


def record_run_config(
    config: ml_collections.ConfigDict, workdir: str | os.PathLike, step: int, allow_change: bool = False
) -> epath.Path:
    """Writes `config` as the run's config on its first start; on a resume from `step`, checks it
    (`check_resume`) and appends its changes, if any, to the history. The file is replaced atomically."""
    path = run_config_path(workdir)
    changes = check_resume(config, workdir, allow_change)
    found = _read(workdir)
    if found is None:
        first, history = _fields(config), []
    elif not changes:
        return path
    else:
        first, history = found
        history = [*history, {"step": int(step), "changes": changes}]
    text = json.dumps({**first, **({HISTORY: history} if history else {})}, indent=2) + "\n"
    return paths.write_atomically(path, text)


def config_history(workdir: str | os.PathLike) -> list[dict]:
    """The run's recorded config changes, oldest first (empty for a run never resumed with another config)."""
    return _read_existing(workdir)[1]


def load_run_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
    """The config the run in `workdir` uses now (its first config with every recorded change applied); a
    one-line error names a missing or malformed file."""
    return ml_collections.ConfigDict(_current(*_read_existing(workdir)))
