"""What the absl binaries share: a user's mistake as one line instead of a traceback, a flag parser that
says where a misplaced config field lives, and quiet library logs unless --verbosity asks for them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import ml_collections
from absl import app, flags, logging

from experiments import configs
from experiments.configs.common import base_config
from ltsh_jax.checkpoints import ShapeMismatchError
from ltsh_jax.distributed import MultiHostError
from ltsh_jax.train.config_checks import ConfigError
from ltsh_jax.train.health import TrainingDiverged
from ltsh_jax.train.run_config import RunConfigError

HELP_FLAGS = frozenset({"--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml"})
# Errors that are the user's to fix and say so in their message: printed as one line, exit status 1.
USER_ERRORS = (ConfigError, RunConfigError, ShapeMismatchError, TrainingDiverged, MultiHostError)


def _paths(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    out = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        out.extend(_paths(value, f"{path}.") if isinstance(value, ml_collections.ConfigDict) else [path])
    return out


def unknown_field_message(argv: Sequence[str], config: ml_collections.ConfigDict) -> str | None:
    """For the first `--config.PATH=...` of argv whose PATH is not a field of `config`: a line saying so and
    where fields of that name live; None when every override names a field."""
    paths = _paths(config)
    for arg in argv[1:]:
        if not arg.startswith("--config."):
            continue
        path = arg[len("--config.") :].split("=", 1)[0]
        if path in paths or any(p.startswith(path + ".") for p in paths):
            continue
        leaf = path.rsplit(".", 1)[-1]
        homes = [f"--config.{p}" for p in paths if p.rsplit(".", 1)[-1] == leaf]
        where = f"; did you mean {' or '.join(homes)}?" if homes else ""
        return f"--config.{path}: the config has no field {path!r}{where}"
    return None


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, except that an override of a config field that does not exist is one line naming where
    fields of that name are (`--config.num_steps` -> `--config.train.num_steps`)."""
    try:
        return app.parse_flags_with_usage(argv)
    except SystemExit:
        if HELP_FLAGS & set(argv[1:]):  # absl prints the help, then exits 1: asking for help is no error
            sys.exit(0)
        raise
    except (AttributeError, KeyError) as error:
        loaded = flags.FLAGS["config"].value if "config" in flags.FLAGS else None
        message = unknown_field_message(argv, loaded if loaded is not None else base_config())
        sys.stderr.write(f"FATAL Flags parsing error: {message or error}\n")
        sys.exit(1)


def quiet_library_logs() -> None:
    """absl logs (the checkpoint library's INFO lines among them) at WARNING and above unless --verbosity is
    given on the command line."""
    if not any(arg.startswith(("--verbosity", "--v=", "-v")) for arg in sys.argv[1:]):
        logging.set_verbosity(logging.WARNING)


def run_main(main: Callable[[list[str]], None]) -> None:
    """app.run(main) with `parse_flags`, quiet library logs, USER_ERRORS as one line on stderr (exit 1), and
    --config naming a shipped config by its short name (experiments.configs.resolve_config_flag)."""

    def wrapped(argv):
        quiet_library_logs()
        try:
            main(argv)
        except USER_ERRORS as error:
            sys.stderr.write(f"error: {error}\n")
            sys.exit(1)

    app.run(wrapped, argv=configs.resolve_config_flag(sys.argv), flags_parser=parse_flags)
