"""Reads our built TFDS datasets (array_record, random access, no TensorFlow).

The schema is ltsh_jax.data.schema; sources.decode_example decodes a raw example. Reading needs no
builder code: TFDS restores a built dataset from its folder, so the library does not import data_builders.
data_dir may be a cloud URI (`gs://bucket/tfds`): it reaches TFDS untouched and TFDS reads the dataset's
metadata through etils.epath; the records are read by array_record's C++ reader, which opens local files and
(array_record 0.8.6, installed here) gs:// through its own GCS client (application default credentials),
nothing else. `load_split` reads one record of a remote split at once, so that a reader that cannot reach
it fails at start-up with a line naming the path, not in a data worker at the first batch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import tensorflow_datasets as tfds

from ltsh_jax import paths
from ltsh_jax.data import annotation_index

BUILD_COMMAND = "python -m data_builders.build {name} --data_dir={data_dir}"
# Datasets made from photographs the user supplies (the others are generated from the embedded assets).
NEEDS_MANUAL_DIR = ("mpii_multiperson", "ltsh_mixed", "ltsh_stylized")


def load_split(
    name: str, split: str, data_dir: str | os.PathLike, config: str | None = None
) -> Sequence[dict[str, Any]]:
    """The split as a random-access data source (len, [i]) of raw examples; decode them with sources.decode_example.

    FileNotFoundError naming the build command when the dataset is not built under data_dir;
    KeyError listing the splits when `split` is not one of them; paths.UnsupportedPathError when data_dir is
    a cloud URI whose records array_record cannot open.
    """
    data_dir = paths.as_path(data_dir)  # a gs:// URI stays one
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
    data_source = builder.as_data_source(split=split)
    if not paths.is_local(data_dir):
        _check_records_readable(data_source, f"dataset {full_name} in {data_dir}")
    return data_source


def _check_records_readable(data_source: Any, what: str) -> None:
    """Reads the first record of a split on a cloud URI; paths.UnsupportedPathError naming the path and the
    ways out when array_record cannot (another scheme than gs://, no credentials, no such bucket)."""
    if not len(data_source):
        return
    records = getattr(data_source, "data_source", data_source)  # TFDS' byte-level array_record source
    try:
        records[0]
    except (OSError, RuntimeError) as error:
        raise paths.UnsupportedPathError(
            f"{what}: array_record cannot read its records in {paths.as_path(data_source.dataset_info.data_dir)} "
            f"({str(error).splitlines()[0]}); it reads local files and gs:// with Google application default "
            "credentials only: log in (gcloud auth application-default login), or copy the dataset to a local "
            "disk or mount the bucket (gcsfuse) and pass that folder as data_dir"
        ) from None


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
