"""What each process fed the step, as hashes, to check that N hosts give the same batches as one.

With config.train.record_inputs, every process appends to WORKDIR/inputs/process_<i>.jsonl: per step the
SHA-1 of each of its batch rows (crop, people, ignore mask), keyed by global slot, and at each teacher
step the chosen group and the SHA-1 of the teacher's input crops. `read_inputs` merges the files of a run.
A cloud workdir (`gs://...`, ltsh_jax.paths) works too, but each record rewrites the object whole: a
check for short runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence

import jax
import numpy as np

from ltsh_jax import paths

INPUTS_DIR = "inputs"


def row_digest(batch: dict, row: int) -> str:
    """SHA-1 of one row of a host batch: its crop, its people's keypoints/labels/validity and ignore mask."""
    people = batch["people"]
    h = hashlib.sha1()
    for part in (batch["image"], batch["ignore_mask"], people.keypoints, people.labelled, people.valid):
        h.update(np.ascontiguousarray(np.asarray(part)[row]).tobytes())
    return h.hexdigest()


class InputRecorder:
    """Appends this process's input hashes to WORKDIR/inputs/process_<i>.jsonl; does nothing when disabled."""

    def __init__(self, workdir: str | os.PathLike, enabled: bool):
        self.path = paths.as_path(workdir) / INPUTS_DIR / f"process_{jax.process_index()}.jsonl"
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, record: dict) -> None:
        if self.enabled:
            paths.append_text(self.path, json.dumps(record) + "\n")

    def batch(self, step: int, rows: Sequence[int], batch: dict) -> None:
        """The rows this process made for `step` (global slots `rows`, in the batch's order)."""
        if self.enabled:
            self._write({"step": step, "crops": {str(int(s)): row_digest(batch, i) for i, s in enumerate(rows)}})

    def teacher(self, step: int, group: int, inputs) -> None:
        """The group the teacher chose after `step` steps and the crops (uint8 [k, S, S, 3]) it chose it on."""
        if self.enabled:
            crops = np.asarray(inputs)
            digests = [hashlib.sha1(np.ascontiguousarray(c).tobytes()).hexdigest() for c in crops]
            self._write({"step": step, "teacher_group": int(group), "teacher_inputs": digests})


def read_inputs(workdir: str | os.PathLike) -> dict[int, dict]:
    """{process: {"crops": {step: {slot: sha1}}, "teacher": {step: (group, [sha1])}}} of a run's files; a
    step recorded twice (a resumed run redoes the steps after its last checkpoint) keeps its last record."""
    out = {}
    for path in sorted((paths.as_path(workdir) / INPUTS_DIR).glob("process_*.jsonl")):
        crops, teacher = {}, {}
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line torn by a kill
                continue
            if "crops" in record:
                crops[record["step"]] = {int(k): v for k, v in record["crops"].items()}
            else:
                teacher[record["step"]] = (record["teacher_group"], record["teacher_inputs"])
        out[int(path.stem.split("_")[1])] = {"crops": crops, "teacher": teacher}
    return out
