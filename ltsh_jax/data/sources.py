"""Image records and their sources: random-access (len, [i]) lists of images with their annotated people.

One record (PeopleRecord) and one interface over the MPII JSON folder and our TFDS datasets
(ltsh_jax.data.schema), so the person-sample index, the pipeline and evaluation never care where
records come from. For training, images and masks stay encoded (bytes) until the crop is made:
decoding is the costly part and happens in the workers; evaluation decodes whole examples (decode_example).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
from tensorflow_datasets.proto import tf_example_pb2

from ltsh_jax.data import decoding, splits
from ltsh_jax.data.annotation_index import AnnotationIndex
from ltsh_jax.data.bad_input import BadInputReport
from ltsh_jax.data.mpii_folder import ImageRecord, load_mpii_json
from ltsh_jax.data.schema import NOT_LABELLED, OCCLUDED, VISIBLE, min_distances


@dataclasses.dataclass(frozen=True, eq=False)
class PeopleRecord:
    """One image and its P annotated people: 0-based pixels, MPII-16 joints (fields: ltsh_jax.data.schema).

    `image` is encoded bytes (JPEG/PNG) or a decoded uint8 [H, W, 3] array; b"" in annotation-only
    records (PeopleSource.annotations). `unannotated_mask`: PNG bytes or a [H, W] array, non-zero
    where people without annotations are; `instance_mask`: 16-bit PNG bytes or an int32 [H, W] array,
    k > 0 = person k - 1; None or b"" when there is none. The fields after `name` are None for
    sources that do not store them (an MPII JSON folder).
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
    name: str = ""  # the image's path (relative to the dataset's images folder)
    visible: np.ndarray | None = None  # bool [P, 16], labelled and visible; None: unknown (counts as visible)
    head_box: np.ndarray | None = None  # float32 [P, 4] x1 y1 x2 y2, NaN rows if unknown
    group_id: np.ndarray | None = None  # int32 [P], MPII multi-person group, schema.NO_GROUP if none
    instance_mask: bytes | np.ndarray | None = None
    covered_by_synthetic: np.ndarray | None = None  # bool [P, 16], real joint hidden by a synthetic human

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def visibility(self) -> np.ndarray:
        """uint8 [P, 16]: the stored visibility codes (schema.NOT_LABELLED, OCCLUDED, VISIBLE)."""
        visible = self.labelled if self.visible is None else self.visible
        return np.where(visible, VISIBLE, np.where(self.labelled, OCCLUDED, NOT_LABELLED)).astype(np.uint8)


class PeopleSource(Protocol):
    """What the pipeline reads: len, [i] -> PeopleRecord, annotations(i) -> PeopleRecord without pixels."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> PeopleRecord: ...

    def annotations(self, index: int) -> PeopleRecord: ...


class MpiiJsonSource:
    """Records of an MPII JSON folder (ltsh_jax.data.mpii_folder): all real, no masks, images read from files.

    `report`: what from_folder skipped (or an empty report), by kind."""

    def __init__(self, records: Sequence[ImageRecord], report: BadInputReport | None = None):
        self.records = list(records)
        self.report = report or BadInputReport()
        self._distances = [min_distances(r.keypoints, r.labelled) for r in self.records]

    @classmethod
    def from_folder(
        cls,
        directory: str | os.PathLike,
        annotation_file: str | None = None,
        on_bad_input: str = "raise",
        what: str = "config.data",
    ) -> MpiiJsonSource:
        """The folder's usable images, every one checked now (ltsh_jax.data.validation, the builders' rules):
        on_bad_input "raise" stops at the first bad record, "skip" skips and counts; ValueError when none is
        left. `what` names the config section in the hint of a "raise" error."""
        hint = f"pass --{what}.on_bad_input=skip to skip and count such input"
        report = BadInputReport(on_bad_input, hint=hint)
        return cls(load_mpii_json(directory, annotation_file or None, report), report)

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
    def load(cls, name: str, split: str, data_dir: str | os.PathLike, config: str | None = None) -> TfdsSource:
        """FileNotFoundError naming the build command when the dataset is not built (splits.load_split);
        ValueError when its annotation index does not match its records."""
        data_source = splits.load_split(name, split, data_dir, config or None)
        return cls(data_source, splits.load_annotation_index(data_source))

    def __len__(self) -> int:
        return len(self.data_source)

    def annotations(self, index: int) -> PeopleRecord:
        if self.index is not None:
            return record_of_example(self.index.record(index), b"", None)
        return dataclasses.replace(self[index], image=b"", unannotated_mask=None)

    def __getitem__(self, index: int) -> PeopleRecord:
        if self._raw is not None:
            feature = tf_example_pb2.Example.FromString(self._raw[index]).features.feature
            image, mask = (list(feature[k].bytes_list.value) for k in ("image", "unannotated_mask"))
            if len(image) == 1:
                return record_of_example(self.index.record(index), image[0], mask[0] if mask and mask[0] else None)
        raw = self.data_source[index]
        return record_of_example(raw, raw["image"], raw["unannotated_mask"] or None)


def _optional(people: dict, field: str, dtype: type) -> np.ndarray | None:
    return np.asarray(people[field], dtype) if field in people else None


def record_of_example(
    raw: dict,
    image: bytes | np.ndarray,
    unannotated_mask: bytes | np.ndarray | None,
    instance_mask: bytes | np.ndarray | None = None,
) -> PeopleRecord:
    """A raw example of our schema (or its annotation-index entry, which has no encoded fields) -> PeopleRecord,
    with the image and masks given (encoded or decoded)."""
    people = raw["people"]
    keypoints = np.asarray(people["keypoints"], np.float32)
    return PeopleRecord(
        image=image,
        keypoints=np.ascontiguousarray(keypoints[..., :2]),
        labelled=keypoints[..., 2] > NOT_LABELLED,
        centers=np.asarray(people["objpos"], np.float32),
        scales=np.asarray(people["scale"], np.float32),
        is_synthetic=np.asarray(people["is_synthetic"], bool),
        min_distance=np.asarray(people["min_distance"], np.float32),
        camera_pitch=float(raw["camera_pitch"]),
        unannotated_mask=unannotated_mask,
        name=_text(raw["image/filename"]),
        visible=keypoints[..., 2] == VISIBLE,
        head_box=_optional(people, "head_box", np.float32),
        group_id=_optional(people, "group_id", np.int32),
        instance_mask=instance_mask,
        covered_by_synthetic=_optional(people, "covered_by_synthetic", bool),
    )


def decode_example(raw: dict) -> PeopleRecord:
    """A raw example of splits.load_split -> PeopleRecord with the image (uint8 RGB), unannotated_mask (bool)
    and instance_mask (int32) decoded; ValueError naming the file if it is inconsistent."""
    filename = _text(raw["image/filename"])
    image = decoding.decode_image(raw["image"], filename)
    shape = (int(raw["image/height"]), int(raw["image/width"]))
    if image.shape[:2] != shape:
        raise ValueError(f"{filename}: decoded image is {image.shape[:2]}, the example says {shape}")
    unannotated = decoding.decode_mask(raw["unannotated_mask"], f"{filename} unannotated_mask", shape)
    instances = decoding.decode_mask(raw["instance_mask"], f"{filename} instance_mask", shape)
    return record_of_example(
        raw,
        image,
        None if unannotated is None else unannotated > 0,
        None if instances is None else instances.astype(np.int32),
    )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def all_annotations(source: PeopleSource, num_threads: int = 8) -> list[PeopleRecord]:
    """annotations(i) of every record, read with a few threads (array_record reads are I/O bound).

    For a TfdsSource with its build's annotation index no record is read (milliseconds for MPII)."""
    with ThreadPoolExecutor(max(1, num_threads)) as pool:
        return list(pool.map(source.annotations, range(len(source))))


def open_source(cfg: Any, what: str = "config.data") -> PeopleSource:
    """The source a config section describes (fields source, dir, annotation_file, on_bad_input, name, split,
    data_dir, builder_config); `what` names the section in errors. A TFDS dataset that is not built is a
    FileNotFoundError that says how to build it."""
    if cfg.source == "mpii_json":
        if not cfg.dir:
            raise ValueError(f"{what}.dir is empty: pass --{what}.dir=FOLDER (images + MPII JSON annotations)")
        return MpiiJsonSource.from_folder(
            cfg.dir, cfg.annotation_file or None, getattr(cfg, "on_bad_input", "raise"), what
        )
    if cfg.source == "tfds":
        if not cfg.name or not cfg.data_dir:
            raise ValueError(f"{what}.name and {what}.data_dir must be set for source 'tfds'")
        return TfdsSource.load(cfg.name, cfg.split, cfg.data_dir, cfg.builder_config or None)
    raise ValueError(f"{what}.source={cfg.source!r} is not supported; use 'mpii_json' or 'tfds'")
