"""A rebuilt dataset is byte-identical, also from another process (protobuf map order is per-process random)."""

from __future__ import annotations

import hashlib
import pathlib
import subprocess
import sys

from array_record.python.array_record_module import ArrayRecordReader
from tensorflow_datasets.proto import tf_example_pb2

from data_builders.mpii_multiperson.conftest import DUMMY, HERE


def _hashes(data_dir: pathlib.Path) -> dict[str, str]:
    files = sorted(data_dir.rglob("*.array_record-*"))
    assert files, f"no array_record files under {data_dir}"
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_rebuild_in_another_process_is_byte_identical(run_build, tmp_path):
    first = pathlib.Path(run_build(DUMMY / "mat").data_path)
    again = tmp_path / "again"
    subprocess.run(
        [sys.executable, "-m", "data_builders.build", "mpii_multiperson", f"--data_dir={again}",
         f"--manual_dir={DUMMY / 'mat'}"],
        cwd=HERE.parents[1], check=True, capture_output=True,
    )  # fmt: skip
    assert _hashes(first) == _hashes(again)
    for path in sorted(first.glob("*.array_record-*")):
        reader = ArrayRecordReader(str(path))
        for record in reader.read_all():  # each record is in canonical (sorted-map) form
            assert tf_example_pb2.Example.FromString(record).SerializeToString(deterministic=True) == record
        reader.close()
