"""The ltsh_stylized dataset builder (D_Style: D_M with its synthetic humans stylized toward the real people)."""

from data_builders.ltsh_stylized.ltsh_stylized_dataset_builder import Builder, LtshStylizedConfig

__all__ = ["Builder", "LtshStylizedConfig"]
