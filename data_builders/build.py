"""Builds one of our datasets without the `tfds build` CLI (which needs TensorFlow).

python -m data_builders.build mpii_multiperson --data_dir=~/tensorflow_datasets --manual_dir=/data/mpii
python -m data_builders.build ltsh_synthetic/small --data_dir=DATA --config_override num_train=500 --beam

--config_override FIELD=VALUE (repeatable) changes a field of the chosen builder config. The changed config
gets its own name, NAME_<first 8 hex digits of the SHA-256 of the changed fields> (printed), so it is built
into its own folder and never reuses or overwrites the unchanged config's; an override equal to the config's
value changes nothing and keeps the name.

--beam builds through Apache Beam (ltsh_synthetic only) with the FnApiRunner in this process: one worker,
in memory. The Beam path writes the same records as the plain one. --beam_options passes Beam pipeline
options through (implies --beam), e.g. local parallel workers:
    --beam_options="--direct_running_mode=multi_processing --direct_num_workers=8"
or a cluster: --beam_options="--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp
--sdk_container_image=IMAGE" with --data_dir=gs://B/datasets, where IMAGE holds this repository, its
requirements and the EGL/Mesa packages of scripts/install_system_packages.sh (the workers render).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import shlex
import sys
import types
import typing
from collections.abc import Mapping, Sequence

import tensorflow_datasets as tfds
from absl import logging

from data_builders import BUILDERS, extras, leftovers
from ltsh_jax.data.bad_input import ON_BAD_INPUT

# Fields every tfds.core.BuilderConfig has: identity and documentation, not generative settings.
_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(tfds.core.BuilderConfig))


def build(
    name: str,
    *,
    data_dir: str | pathlib.Path,
    manual_dir: str | pathlib.Path | None = None,
    config: str | tfds.core.BuilderConfig | None = None,
    on_bad_input: str = "raise",
    config_overrides: Mapping[str, str] | None = None,
    beam: bool = False,
    beam_options: str | None = None,
) -> tfds.core.DatasetBuilder:
    """Builds (or finds already built) `name` (or "name/config") under data_dir as array_record files.

    First removes (or reports) the stale incomplete folders of killed builds of the same name/config; a build
    that fails removes the empty folders it created and adds a note saying what else it left (data_builders.leftovers).
    """
    name, config = split_name(name, config)
    builder_cls = BUILDERS[name]
    if config_overrides:
        config = override_config(builder_cls, config, config_overrides)
    beam = beam or beam_options is not None
    if beam:
        check_beam_support(name)
    data_dir = os.path.expanduser(os.fspath(data_dir))
    before = leftovers.snapshot(data_dir, name)
    builder = builder_cls(data_dir=data_dir, config=config, on_bad_input=on_bad_input)
    leftovers.clear_stale_incomplete(builder.data_path)
    download_config = tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else str(manual_dir),
        **(beam_download_kwargs(beam_options) if beam else {}),
    )
    try:
        builder.download_and_prepare(download_config=download_config)
    except BaseException as error:  # KeyboardInterrupt too: say what is left, then let it through
        left = leftovers.clean_after_failure(data_dir, builder.data_path, before)
        note = f"the failed build left {', '.join(left)}" if left else f"the failed build left nothing in {data_dir}"
        logging.warning("%s", note)
        error.add_note(note)
        raise
    return builder


def split_name(name: str, config: str | tfds.core.BuilderConfig | None) -> tuple[str, typing.Any]:
    """("name/config", None) -> ("name", "config"); ValueError for a dataset that is not ours."""
    if "/" in name and config is None:
        name, config = name.split("/", 1)
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; ours are {sorted(BUILDERS)}")
    return name, config


def check_beam_support(name: str) -> None:
    """ValueError unless builder `name` has a Beam path (SUPPORTS_BEAM); the others would ignore the runner."""
    if not getattr(BUILDERS[name], "SUPPORTS_BEAM", False):
        supported = sorted(n for n, c in BUILDERS.items() if getattr(c, "SUPPORTS_BEAM", False))
        raise ValueError(f"{name} builds in one process only; --beam and --beam_options work for {supported}")


def beam_download_kwargs(beam_options: str | None = None) -> dict:
    """beam_runner and beam_options of a DownloadConfig: the options given, or one in-process worker.

    Without a --runner in the options, the pipeline runs on the FnApiRunner, which the DirectRunner uses
    for batch pipelines, named directly: the DirectRunner first tries the Prism runner, a separate binary
    it downloads. Default `in_memory` with one worker: everything runs in this process (the renderer's
    GL context, patches a test installs, data_builders.base's deterministic serialization).
    """
    extras.require_beam()
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    args = shlex.split(beam_options) if beam_options else ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    options = PipelineOptions(args)
    runner = None if options.view_as(StandardOptions).runner else FnApiRunner()
    return {"beam_runner": runner, "beam_options": options}


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """["field=value", ...] -> {field: value} (each field once)."""
    overrides: dict[str, str] = {}
    for item in items:
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep or not field:
            raise ValueError(f"--config_override {item!r}: expected FIELD=VALUE")
        if field in overrides:
            raise ValueError(f"--config_override: field {field!r} given twice")
        overrides[field] = value
    return overrides


def override_config(
    builder_cls: type[tfds.core.DatasetBuilder],
    config: str | tfds.core.BuilderConfig | None,
    overrides: Mapping[str, str],
) -> tfds.core.BuilderConfig:
    """`config` (a name, a BuilderConfig, None = the first) with fields set from strings, under a derived name."""
    configs = {c.name: c for c in getattr(builder_cls, "BUILDER_CONFIGS", [])}
    if not configs and not isinstance(config, tfds.core.BuilderConfig):
        raise ValueError(f"{builder_cls.name} has no builder configs: --config_override does not apply")
    if config is None:
        base = next(iter(configs.values()))
    elif isinstance(config, str):
        if config not in configs:
            raise ValueError(f"{builder_cls.name} has no config {config!r}; it has {sorted(configs)}")
        base = configs[config]
    else:
        base = config
    valid = sorted(f.name for f in dataclasses.fields(base) if f.name not in _BASE_FIELDS)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(f"{builder_cls.name}/{base.name} has no config field {', '.join(unknown)}; valid: {valid}")
    values = {field: _coerce(field, text, _field_type(type(base), field)) for field, text in overrides.items()}
    changed = {field: value for field, value in sorted(values.items()) if value != getattr(base, field)}
    if not changed:
        return base
    canonical = json.dumps(changed, sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:8]
    summary = ", ".join(f"{field}={value!r}" for field, value in changed.items())
    description = f"{base.description or base.name} Overridden: {summary}.".lstrip()
    return dataclasses.replace(base, name=f"{base.name}_{digest}", description=description, **changed)


def _field_type(cls: type, field: str) -> typing.Any:
    """The annotation of `field` in the class of the MRO that declares it, evaluated in that class's module.

    (typing.get_type_hints(cls) would also evaluate tfds's own BuilderConfig annotations, which do not resolve.)
    """
    for klass in cls.__mro__:
        annotations = vars(klass).get("__annotations__", {})
        if field in annotations:
            hint = annotations[field]
            return eval(hint, vars(sys.modules[klass.__module__])) if isinstance(hint, str) else hint
    raise ValueError(f"config field {field}: no annotation in {cls.__name__}")


def _coerce(field: str, text: str, hint: typing.Any) -> typing.Any:
    """The value of `text` as the type `hint` of config field `field` (int, float, bool, str, None, tuple)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", ""):
            return None
        others = [a for a in args if a is not type(None)]
        if len(others) == 1:
            return _coerce(field, text, others[0])
    elif origin is tuple:
        parts = [p.strip() for p in text.split(",")]
        types_ = [args[0]] * len(parts) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(types_) != len(parts):
            raise ValueError(f"config field {field}: expected {len(types_)} comma-separated values, got {text!r}")
        return tuple(_coerce(field, p, t) for p, t in zip(parts, types_, strict=True))
    elif hint is bool:
        if text.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
            return text.strip().lower() in ("true", "1", "yes")
        raise ValueError(f"config field {field}: expected true or false, got {text!r}")
    elif hint in (int, float, str):
        try:
            return hint(text.strip() if hint is not str else text)
        except ValueError:
            raise ValueError(f"config field {field}: expected {hint.__name__}, got {text!r}") from None
    raise ValueError(f"config field {field} (type {hint}) cannot be set with --config_override")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help=f"one of {sorted(BUILDERS)}, optionally NAME/CONFIG")
    parser.add_argument("--data_dir", required=True, help="where the built dataset goes")
    parser.add_argument("--manual_dir", help="the manually downloaded files (see the builder's instructions)")
    parser.add_argument("--config", help="builder config name (default: the builder's first)")
    parser.add_argument("--on_bad_input", choices=ON_BAD_INPUT, default="raise", help="stop at, or skip and report")
    parser.add_argument(
        "--config_override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a field of the builder config (repeatable); the result gets a derived name",
    )
    parser.add_argument("--beam", action="store_true", help="build through Apache Beam, in this process")
    parser.add_argument("--beam_options", help="Beam pipeline options, one string (implies --beam)")
    args = parser.parse_args(argv)
    try:  # command-line mistakes: a usage message, not a traceback
        name, config = split_name(args.name, args.config)
        overrides = parse_overrides(args.config_override)
        if overrides:
            config = override_config(BUILDERS[name], config, overrides)
            print(f"config {config.name}: {config.description}")
        if args.beam or args.beam_options is not None:
            check_beam_support(name)
            extras.require_beam()
    except (ValueError, ImportError) as error:
        parser.error(str(error))
    builder = build(
        name,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
        config=config,
        on_bad_input=args.on_bad_input,
        beam=args.beam,
        beam_options=args.beam_options,
    )
    print(f"built {builder.info.full_name} in {builder.data_dir}: {builder.info.splits}")


if __name__ == "__main__":
    main()
