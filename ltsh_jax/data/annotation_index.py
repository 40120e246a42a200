"""The annotation index of a built dataset split: every example's fields except the encoded pixels, in one file.

Why: the pipeline's person index needs every record's people at start-up, and an array_record read
returns the whole serialized example, image bytes included (about 12 GB for MPII). Our builders
(data_builders/base.py) therefore write `annotations-{split}.npz` beside the records: part of the
dataset, so versioned with it and byte-identical on rebuilds, and read in milliseconds.

Format (np.load(..., allow_pickle=False)): `format` [1]; `offsets` int64 [R + 1]: the people of record
i are rows offsets[i]:offsets[i + 1] of every `people/<field>` array (concatenated over records);
every other feature (image/filename as str, sizes, camera_pitch) is one array [R]. The encoded fields
(ENCODED, or what the builder's features say is an encoded blob) are left out. Zip entries are stored
with a fixed date, so equal data gives equal bytes. The dataset folder may be a cloud URI (ltsh_jax.paths).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable, Sequence

import numpy as np
from etils import epath

from ltsh_jax import paths

FORMAT_VERSION = 1
ENCODED = ("image", "unannotated_mask", "instance_mask")  # encoded blobs: not in the index
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def index_path(dataset_dir: str | os.PathLike, split: str) -> epath.Path:
    """Where a split's index lies in the dataset's version folder (e.g. .../mpii_multiperson/default/1.0.0)."""
    return paths.as_path(dataset_dir) / f"annotations-{split}.npz"


def _value(value: object) -> object:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def arrays_from_examples(examples: Iterable[dict], encoded: Sequence[str] = ENCODED) -> dict[str, np.ndarray]:
    """Raw examples (as a tfds data source returns them) -> the index's arrays, without the `encoded` fields."""
    people: dict[str, list[np.ndarray]] = {}
    fields: dict[str, list] = {}
    counts = []
    for i, raw in enumerate(examples):
        group = raw["people"]
        count = len(next(iter(group.values())))
        if i == 0:
            people = {k: [] for k in sorted(group)}
            fields = {k: [] for k in sorted(raw) if k != "people" and k not in encoded}
        if sorted(group) != list(people) or any(len(v) != count for v in group.values()):
            raise ValueError(f"example {i}: people fields {sorted(group)} differ from the first example's or in length")
        for k in people:
            people[k].append(np.asarray(group[k]))
        for k in fields:
            fields[k].append(_value(raw[k]))
        counts.append(count)
    if not counts:
        raise ValueError("no examples to index")
    out = {"format": np.asarray([FORMAT_VERSION], np.int64), "offsets": np.concatenate([[0], np.cumsum(counts)])}
    out["offsets"] = out["offsets"].astype(np.int64)
    for name, values, join in [(f"people/{k}", v, np.concatenate) for k, v in people.items()] + [
        (k, v, np.asarray) for k, v in fields.items()
    ]:
        try:
            array = join(values)
        except ValueError:  # ragged: not indexable as one array; readers do not need it
            continue
        if array.dtype != object:
            out[name] = array
    return out


def write(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """An npz with stored (uncompressed) entries in sorted order and a fixed date: deterministic bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            if array.dtype == object:
                raise ValueError(f"{path}: field {name} has dtype object; the index holds plain arrays only")
            entry = io.BytesIO()
            np.lib.format.write_array(entry, array, allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE), entry.getvalue())
    paths.write_atomically(path, buffer.getvalue())


class AnnotationIndex:
    """A loaded index: len, and record(i) -> the raw example without its encoded fields."""

    def __init__(self, arrays: dict[str, np.ndarray], where: str = "annotation index"):
        self.where = where
        if "offsets" not in arrays or int(np.asarray(arrays.get("format", [0]))[0]) != FORMAT_VERSION:
            raise ValueError(f"{where}: not an annotation index of format {FORMAT_VERSION}")
        self.offsets = np.asarray(arrays["offsets"], np.int64)
        self.people = {k.removeprefix("people/"): v for k, v in arrays.items() if k.startswith("people/")}
        skip = ("format", "offsets")
        self.fields = {k: v for k, v in arrays.items() if not k.startswith("people/") and k not in skip}
        total, count = int(self.offsets[-1]), len(self.offsets) - 1
        bad = [k for k, v in self.people.items() if len(v) != total]
        bad += [k for k, v in self.fields.items() if len(v) != count]
        if bad or np.any(np.diff(self.offsets) < 0):
            raise ValueError(f"{where}: inconsistent lengths (fields {bad}) for {count} records of {total} people")

    @classmethod
    def load(cls, path: str | os.PathLike) -> AnnotationIndex:
        """The index at `path` (local or a cloud URI); ValueError naming the file when it is not one."""
        try:
            with np.load(io.BytesIO(paths.as_path(path).read_bytes()), allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: cannot read the annotation index ({e})") from None
        return cls(arrays, str(path))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def record(self, index: int) -> dict:
        """The raw example `index` without ENCODED fields: {"people": {field: [P, ...]}, field: value}."""
        start, stop = self.offsets[index], self.offsets[index + 1]
        out: dict = {k: v[index] for k, v in self.fields.items()}
        out["people"] = {k: v[start:stop] for k, v in self.people.items()}
        return out

    def check(self, data_source: Sequence[dict], probes: Sequence[int] | None = None) -> None:
        """ValueError when the index does not describe `data_source` (length, and a few records compared in full)."""
        if len(data_source) != len(self):
            raise ValueError(f"{self.where}: indexes {len(self)} records, the split has {len(data_source)}; "
                             "rebuild the dataset")  # fmt: skip
        for i in sorted({0, len(self) // 2, len(self) - 1} if probes is None else set(probes)):
            raw, mine = data_source[i], self.record(i)
            pairs = [(f"people/{f}", raw["people"][f], a) for f, a in mine.pop("people").items()]
            pairs += [(k, _value(raw[k]), v) for k, v in mine.items()]
            for name, theirs, ours in pairs:
                ours = np.asarray(ours)
                if not np.array_equal(np.asarray(theirs), ours, equal_nan=ours.dtype.kind == "f"):
                    raise ValueError(f"{self.where}: record {i} field {name} differs from the split's; "
                                     "rebuild the dataset")  # fmt: skip
