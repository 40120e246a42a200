"""The mpii_multiperson dataset builder (MPII Human Pose, multi-person, manual download)."""

from data_builders.mpii_multiperson.mpii_multiperson_dataset_builder import Builder, MpiiMultipersonConfig

__all__ = ["Builder", "MpiiMultipersonConfig"]
