"""TFDS builders of this project; importing the package registers every builder.

    import data_builders
    import tensorflow_datasets as tfds
    builder = tfds.builder("mpii_multiperson", data_dir=...)

Builders write array_record files (no TensorFlow needed); read them with tfds.data_source or
ltsh_jax.data.splits.load_split. Build with `python -m data_builders.build NAME --data_dir --manual_dir`.
"""

from data_builders.ltsh_mixed import ltsh_mixed_dataset_builder
from data_builders.ltsh_stylized import ltsh_stylized_dataset_builder
from data_builders.ltsh_synthetic import ltsh_synthetic_dataset_builder
from data_builders.mpii_multiperson import mpii_multiperson_dataset_builder

BUILDERS = {
    "mpii_multiperson": mpii_multiperson_dataset_builder.Builder,
    "ltsh_synthetic": ltsh_synthetic_dataset_builder.Builder,
    "ltsh_mixed": ltsh_mixed_dataset_builder.Builder,
    "ltsh_stylized": ltsh_stylized_dataset_builder.Builder,
}

__all__ = ["BUILDERS"]
