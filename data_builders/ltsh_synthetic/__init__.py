"""The ltsh_synthetic dataset builder (D_S: purely synthetic images of many humans, generated here)."""

from data_builders.ltsh_synthetic.ltsh_synthetic_dataset_builder import Builder, LtshSyntheticConfig

__all__ = ["Builder", "LtshSyntheticConfig"]
