"""A fake `gs://` for tests: `gs://BUCKET/KEY` is the local file ROOT/BUCKET/KEY.

A gs:// path reaches storage by three routes, and the fake covers each:
- etils.epath (every file the library, TFDS and orbax open, list or stat in Python): through
  `epath.testing.mock_epath`, etils' own test hook, which swaps the backend of every path for one whose
  functions we wrap. The wrappers map a gs:// argument to its local file and leave local paths alone.
- TensorStore (the arrays orbax writes and reads): orbax asks `gcs_utils.get_kvstore_for_gcs` for the
  kvstore of a gs:// path; the fake answers with TensorStore's file driver on the same local folder, and
  says every bucket has a flat namespace (orbax would ask Google Cloud otherwise).
- array_record's C++ reader (a TFDS dataset's records), which has its own GCS client: its one opening
  function, `array_record_data_source._create_reader`, gets the local file (`records=False` leaves it
  alone, to see what a reader that cannot reach the bucket does).
Anything that opens a gs:// path outside these routes (plain `open`) sees no bucket. Needs etils' fsspec
route (TensorFlow not installed), as in this project.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
from collections.abc import Iterator
from unittest import mock

from array_record.python import array_record_data_source
from etils import epath
from orbax.checkpoint._src.path import gcs_utils

PREFIX = "gs://"


class FakeBucket:
    """Maps gs:// paths to files under `root` and back."""

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root)

    def local(self, path) -> str:
        """The local file a gs:// path stands for (other paths unchanged)."""
        text = os.fspath(path)
        return str(self.root / text[len(PREFIX) :]) if text.startswith(PREFIX) else text

    def remote(self, local: str, like) -> str:
        """A local path under root back as gs:// when the path `like` it was asked for was one."""
        if not os.fspath(like).startswith(PREFIX):
            return local
        relative = pathlib.Path(local).relative_to(self.root)
        return PREFIX + relative.as_posix()

    def _one(self, original, path, *args, **kwargs):
        return original(self.local(path), *args, **kwargs)

    def _two(self, original, path, dst, *args, **kwargs):
        return original(self.local(path), self.local(dst), *args, **kwargs)

    def _glob(self, original, pattern):
        return [self.remote(p, pattern) for p in original(self.local(pattern))]

    def _walk(self, original, top, **kwargs):
        for root, dirs, files in original(self.local(top), **kwargs):
            yield self.remote(os.fspath(root), top), dirs, files

    def _kvstore(self, path: str) -> dict:
        return {"driver": "file", "path": self.local(path)}


@contextlib.contextmanager
def fake_gcs(root: str | os.PathLike, *, records: bool = True) -> Iterator[FakeBucket]:
    """Within the block, gs://BUCKET/KEY reads and writes ROOT/BUCKET/KEY (epath, orbax's TensorStore and,
    with `records`, array_record's reader)."""
    bucket = FakeBucket(root)
    one = bucket._one
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            epath.testing.mock_epath(
                open=one, exists=one, isdir=one, listdir=one, makedirs=one, mkdir=one, rmtree=one, remove=one,
                stat=one, copy=bucket._two, rename=bucket._two, replace=bucket._two, glob=bucket._glob,
                walk=bucket._walk,
            )
        )  # fmt: skip
        stack.enter_context(mock.patch.object(gcs_utils, "get_kvstore_for_gcs", bucket._kvstore))
        stack.enter_context(mock.patch.object(gcs_utils, "is_hierarchical_namespace_enabled", lambda path: False))
        if records:
            stack.enter_context(
                mock.patch.object(
                    array_record_data_source,
                    "_create_reader",
                    functools.partial(bucket._one, array_record_data_source._create_reader),
                )
            )
        yield bucket
