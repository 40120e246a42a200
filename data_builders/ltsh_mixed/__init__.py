"""The ltsh_mixed dataset builder (D_M: MPII training photos with synthetic humans composited on top)."""

from data_builders.ltsh_mixed.ltsh_mixed_dataset_builder import Builder, LtshMixedConfig

__all__ = ["Builder", "LtshMixedConfig"]
