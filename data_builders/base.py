"""What every builder of this project shares: array_record output, byte-identical rebuilds, a bad-input flag,
and an annotation index per split (ltsh_jax.data.annotation_index) so readers skip the pixels at start-up.

TFDS serializes each example as a tf.train.Example proto whose feature map the (upb) protobuf runtime
writes in a per-process random order, so two builds of the same data differ byte for byte. Builders
deriving from MultiPersonBuilder write maps in sorted key order instead (protobuf's deterministic
serialization; readers are unaffected).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import example_serializer
from tensorflow_datasets.core.data_sources import array_record

from data_builders import leftovers
from ltsh_jax.data import annotation_index
from ltsh_jax.data.bad_input import BadInputReport


def _serialize_deterministic(self: example_serializer.ExampleSerializer, example: dict) -> bytes:
    return self.get_tf_example(example).SerializeToString(deterministic=True)


class DeterministicExampleSerializer(example_serializer.ExampleSerializer):
    """TFDS's serializer with sorted maps. Beam pickles the serializer to its workers: an instance of this
    importable class keeps serializing deterministically there, in processes the patch below never reaches."""

    serialize_example = _serialize_deterministic


@contextlib.contextmanager
def deterministic_serialization() -> Iterator[None]:
    """Within the block, TFDS writes every example with protobuf's deterministic (sorted-map) serialization:
    serializers already made are patched, and the ones TFDS makes (plain Writer, BeamWriter) are ours."""
    with (
        mock.patch.object(example_serializer.ExampleSerializer, "serialize_example", _serialize_deterministic),
        mock.patch.object(example_serializer, "ExampleSerializer", DeterministicExampleSerializer),
    ):
        yield


class MultiPersonBuilder(tfds.core.GeneratorBasedBuilder):
    """Base of our builders (abstract, so not registered): array_record by default, deterministic bytes.

    on_bad_input: "raise" stops at the first bad record, naming it; "skip" skips, counts and reports
    (self.report, and metadata.json "build_report" in the dataset folder). Not part of the dataset's
    identity: a build without bad input writes the same files either way. After the records, each
    split gets `annotations-{split}.npz` (every field but the encoded images and masks, in record order).
    """

    def __init__(self, *, on_bad_input: str = "raise", file_format: str | None = "array_record", **kwargs):
        self.report = BadInputReport(on_bad_input)
        super().__init__(file_format=file_format, **kwargs)

    def _download_and_prepare(
        self, dl_manager: tfds.download.DownloadManager, download_config: tfds.download.DownloadConfig
    ) -> None:
        self.report = BadInputReport(self.report.on_bad_input)  # fresh counts for every build
        leftovers.write_owner(self.data_dir)  # the incomplete folder: who writes it, if this build is killed
        with deterministic_serialization():
            result = super()._download_and_prepare(dl_manager, download_config)
        self.info.metadata["build_report"] = self.report.as_metadata()
        self.report.log_summary()
        self._write_annotation_indexes()
        leftovers.remove_owner(self.data_dir)
        return result

    def _write_annotation_indexes(self) -> None:
        """annotations-{split}.npz beside the records, read back from the written files (their final order)."""
        features = self.info.features
        encoded = [k for k, f in features.items() if _is_blob(f)]
        for split in self.info.splits:
            source = array_record.ArrayRecordDataSource(dataset_info=self.info, split=split)
            arrays = annotation_index.arrays_from_examples((source[i] for i in range(len(source))), encoded)
            annotation_index.write(annotation_index.index_path(self.data_dir, split), arrays)


def _is_blob(feature: tfds.features.FeatureConnector) -> bool:
    """An encoded byte string (image, mask): a Tensor of dtype object that is not Text."""
    return (isinstance(feature, tfds.features.Tensor) and feature.np_dtype == np.object_
            and not isinstance(feature, tfds.features.Text))  # fmt: skip
