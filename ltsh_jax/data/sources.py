"""Image-record sources: random-access (len, [i]) lists of images with their annotated people.

One interface over the MPII JSON folder and our TFDS datasets (data_builders/features.py), so the
person-sample index and the pipeline never care where records come from. Images and masks stay
encoded (bytes) until the crop is made: decoding is the costly part and happens in the workers.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
from tensorflow_datasets.proto import tf_example_pb2

from ltsh_jax.data import splits
from ltsh_jax.data.annotation_index import AnnotationIndex
from ltsh_jax.data.mpii_folder import ImageRecord, load_mpii_json

ALONE_DISTANCE = 1e6  # min_distance of a person with no other annotated person (as data_builders.features)


@dataclasses.dataclass(frozen=True, eq=False)
class PeopleRecord:
    """One image and its P annotated people: 0-based pixels, MPII-16 joints.

    `image` is encoded bytes (JPEG/PNG) or a decoded uint8 [H, W, 3] array; b"" in annotation-only
    records (PeopleSource.annotations). `unannotated_mask`: PNG bytes or a [H, W] array, non-zero
    where people without annotations are; None or b"" when there is none.
    """

    image: bytes | np.ndarray
    keypoints: np.ndarray  # float32 [P, 16, 2]
    labelled: np.ndarray  # bool [P, 16]
    centers: np.ndarray  # float32 [P, 2]
    scales: np.ndarray  # float32 [P], person height / 200 px
    is_synthetic: np.ndarray  # bool [P]
    min_distance: np.ndarray  # float32 [P], px to the nearest other annotated person
    camera_pitch: float = float("nan")  # degrees, NaN for real photos
    unannotated_mask: bytes | np.ndarray | None = None
    name: str = ""

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])


class PeopleSource(Protocol):
    """What the pipeline reads: len, [i] -> PeopleRecord, annotations(i) -> PeopleRecord without pixels."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> PeopleRecord: ...

    def annotations(self, index: int) -> PeopleRecord: ...


def min_distances(keypoints: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """float32 [P]: smallest distance from a person's labelled joints to another person's (ALONE_DISTANCE if none)."""
    count = keypoints.shape[0]
    out = np.full(count, ALONE_DISTANCE, np.float64)
    for p in range(count):
        mine = keypoints[p, labelled[p]].astype(np.float64)
        for q in range(count):
            theirs = keypoints[q, labelled[q]].astype(np.float64)
            if q != p and len(mine) and len(theirs):
                out[p] = min(out[p], np.sqrt(((mine[:, None] - theirs[None]) ** 2).sum(-1)).min())
    return out.astype(np.float32)


class MpiiJsonSource:
    """Records of an MPII JSON folder (ltsh_jax.data.mpii_folder): all real, no masks, images read from files."""

    def __init__(self, records: Sequence[ImageRecord]):
        self.records = list(records)
        self._distances = [min_distances(r.keypoints, r.labelled) for r in self.records]

    @classmethod
    def from_folder(cls, directory: str | pathlib.Path, annotation_file: str | None = None) -> MpiiJsonSource:
        return cls(load_mpii_json(directory, annotation_file or None))

    def __len__(self) -> int:
        return len(self.records)

    def annotations(self, index: int) -> PeopleRecord:
        r = self.records[index]
        return PeopleRecord(
            image=b"",
            keypoints=r.keypoints,
            labelled=r.labelled,
            centers=r.centers,
            scales=r.scales,
            is_synthetic=np.zeros(r.num_people, bool),
            min_distance=self._distances[index],
            name=str(r.image_path),
        )

    def __getitem__(self, index: int) -> PeopleRecord:
        return dataclasses.replace(self.annotations(index), image=self.records[index].image_path.read_bytes())


class TfdsSource:
    """A split of one of our TFDS datasets (array_record, random access), e.g. mpii_multiperson train.

    `index`: the split's annotation index (ltsh_jax.data.annotation_index), which annotations(i) reads
    instead of the record, so start-up never reads the images; None: annotations(i) reads record i.
    """

    def __init__(self, data_source: Sequence[dict[str, Any]], index: AnnotationIndex | None = None):
        self.data_source = data_source
        self.index = index
        # With an index, records are read as bytes and only the encoded fields taken from the proto
        # (3x cheaper than TFDS' decoding of every feature); TFDS' array_record source keeps that
        # byte-level source as `.data_source`.
        raw = getattr(data_source, "data_source", None)
        self._raw = raw if index is not None and hasattr(raw, "__getitem__") else None

    @classmethod
    def load(cls, name: str, split: str, data_dir: str | pathlib.Path, config: str | None = None) -> TfdsSource:
        """FileNotFoundError naming the build command when the dataset is not built (splits.load_split);
        ValueError when its annotation index does not match its records."""
        data_source = splits.load_split(name, split, data_dir, config or None)
        return cls(data_source, splits.load_annotation_index(data_source))

    def __len__(self) -> int:
        return len(self.data_source)

    def annotations(self, index: int) -> PeopleRecord:
        if self.index is not None:
            return _people_record(self.index.record(index), b"", None)
        return dataclasses.replace(self[index], image=b"", unannotated_mask=None)

    def __getitem__(self, index: int) -> PeopleRecord:
        if self._raw is not None:
            feature = tf_example_pb2.Example.FromString(self._raw[index]).features.feature
            image, mask = (list(feature[k].bytes_list.value) for k in ("image", "unannotated_mask"))
            if len(image) == 1:
                return _people_record(self.index.record(index), image[0], mask[0] if mask and mask[0] else None)
        raw = self.data_source[index]
        return _people_record(raw, raw["image"], raw["unannotated_mask"] or None)


def _people_record(raw: dict, image: bytes, unannotated_mask: bytes | None) -> PeopleRecord:
    """A raw example of our schema (or its annotation-index entry) -> PeopleRecord."""
    people = raw["people"]
    keypoints = np.asarray(people["keypoints"], np.float32)
    return PeopleRecord(
        image=image,
        keypoints=np.ascontiguousarray(keypoints[..., :2]),
        labelled=keypoints[..., 2] > 0,
        centers=np.asarray(people["objpos"], np.float32),
        scales=np.asarray(people["scale"], np.float32),
        is_synthetic=np.asarray(people["is_synthetic"], bool),
        min_distance=np.asarray(people["min_distance"], np.float32),
        camera_pitch=float(raw["camera_pitch"]),
        unannotated_mask=unannotated_mask,
        name=_text(raw["image/filename"]),
    )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def all_annotations(source: PeopleSource, num_threads: int = 8) -> list[PeopleRecord]:
    """annotations(i) of every record, read with a few threads (array_record reads are I/O bound).

    For a TfdsSource with its build's annotation index no record is read (milliseconds for MPII)."""
    with ThreadPoolExecutor(max(1, num_threads)) as pool:
        return list(pool.map(source.annotations, range(len(source))))


def open_source(cfg: Any, what: str = "config.data") -> PeopleSource:
    """The source a config section describes (fields source, dir, annotation_file, name, split, data_dir,
    builder_config); `what` names the section in errors. A TFDS dataset that is not built is a
    FileNotFoundError that says how to build it."""
    if cfg.source == "mpii_json":
        if not cfg.dir:
            raise ValueError(f"{what}.dir is empty: pass --{what}.dir=FOLDER (images + MPII JSON annotations)")
        return MpiiJsonSource.from_folder(cfg.dir, cfg.annotation_file or None)
    if cfg.source == "tfds":
        if not cfg.name or not cfg.data_dir:
            raise ValueError(f"{what}.name and {what}.data_dir must be set for source 'tfds'")
        return TfdsSource.load(cfg.name, cfg.split, cfg.data_dir, cfg.builder_config or None)
    raise ValueError(f"{what}.source={cfg.source!r} is not supported; use 'mpii_json' or 'tfds'")
