"""Builds one of our datasets without the `tfds build` CLI (which needs TensorFlow).

python -m data_builders.build mpii_multiperson --data_dir=~/tensorflow_datasets --manual_dir=/data/mpii
"""

from __future__ import annotations

import argparse
import pathlib

import tensorflow_datasets as tfds

from data_builders import BUILDERS
from data_builders.bad_input import ON_BAD_INPUT


def build(
    name: str,
    *,
    data_dir: str | pathlib.Path,
    manual_dir: str | pathlib.Path | None = None,
    config: str | tfds.core.BuilderConfig | None = None,
    on_bad_input: str = "raise",
) -> tfds.core.DatasetBuilder:
    """Builds (or finds already built) `name` (or "name/config") under data_dir as array_record files."""
    if "/" in name and config is None:
        name, config = name.split("/", 1)
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; ours are {sorted(BUILDERS)}")
    builder = BUILDERS[name](data_dir=str(data_dir), config=config, on_bad_input=on_bad_input)
    download_config = tfds.download.DownloadConfig(manual_dir=None if manual_dir is None else str(manual_dir))
    builder.download_and_prepare(download_config=download_config)
    return builder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help=f"one of {sorted(BUILDERS)}, optionally NAME/CONFIG")
    parser.add_argument("--data_dir", required=True, help="where the built dataset goes")
    parser.add_argument("--manual_dir", help="the manually downloaded files (see the builder's instructions)")
    parser.add_argument("--config", help="builder config name (default: the builder's first)")
    parser.add_argument("--on_bad_input", choices=ON_BAD_INPUT, default="raise", help="stop at, or skip and report")
    args = parser.parse_args(argv)
    builder = build(
        args.name,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
        config=args.config,
        on_bad_input=args.on_bad_input,
    )
    print(f"built {builder.info.full_name} in {builder.data_dir}: {builder.info.splits}")


if __name__ == "__main__":
    main()
