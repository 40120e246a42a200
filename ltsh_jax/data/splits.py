"""Reads our built TFDS datasets (array_record, random access, no TensorFlow).

The schema is ltsh_jax.data.schema; sources.decode_example decodes a raw example. Reading needs no
builder code: TFDS restores a built dataset from its folder, so the library does not import data_builders.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Sequence
from typing import Any

import tensorflow_datasets as tfds

from ltsh_jax.data import annotation_index

BUILD_COMMAND = "python -m data_builders.build {name} --data_dir={data_dir}"
# Datasets made from photographs the user supplies (the others are generated from the embedded assets).
NEEDS_MANUAL_DIR = ("mpii_multiperson", "ltsh_mixed", "ltsh_stylized")


def load_split(
    name: str, split: str, data_dir: str | pathlib.Path, config: str | None = None
) -> Sequence[dict[str, Any]]:
    """The split as a random-access data source (len, [i]) of raw examples; decode them with sources.decode_example.

    FileNotFoundError naming the build command when the dataset is not built under data_dir;
    KeyError listing the splits when `split` is not one of them.
    """
    data_dir = pathlib.Path(data_dir).expanduser()
    full_name = name if config is None else f"{name}/{config}"
    command = BUILD_COMMAND.format(name=full_name, data_dir=data_dir)
    if name in NEEDS_MANUAL_DIR:
        command += " --manual_dir=<the MPII folder: images + annotations, see WORKSPACE.md>"
    not_built = f"dataset {full_name} is not built under {data_dir}; build it with: {command}"
    try:
        builder = tfds.builder(full_name, data_dir=str(data_dir))
    except tfds.core.registered.DatasetNotFoundError:
        raise FileNotFoundError(not_built) from None
    if not builder.is_prepared():
        raise FileNotFoundError(not_built)
    if split not in builder.info.splits:
        raise KeyError(
            f"dataset {full_name} in {data_dir} has no split {split!r}; it has {sorted(builder.info.splits)}"
        )
    return builder.as_data_source(split=split)


def load_annotation_index(data_source: Any) -> annotation_index.AnnotationIndex | None:
    """The annotation index our builders write beside a split (checked against its records), or None
    (with a warning: start-up then reads every record, images included) for a build without one."""
    path = annotation_index.index_path(data_source.dataset_info.data_dir, data_source.split)
    if not path.is_file():
        logging.warning("%s: no annotation index; reading every record to index the people (rebuild the "
                        "dataset with this version of data_builders to skip that)", path)  # fmt: skip
        return None
    index = annotation_index.AnnotationIndex.load(path)
    index.check(data_source)
    return index
