"""The padded record of people in a crop: what the host hands the device, and targets consume.

Shapes are fixed (P = maximum people per crop) so that a batch is one array per field and the
jitted step never recompiles; `valid` marks the slots that hold a person.
"""

from __future__ import annotations

import flax.struct
import jax
import numpy as np


@flax.struct.dataclass
class People:
    """People of one crop ([P, ...]) or of a batch of crops ([B, P, ...]).

    Attributes:
      keypoints: float32 [..., P, J, 2], (x, y) in crop input pixels, in the skeleton's part order.
      labelled: bool [..., P, J], the joint is annotated (it may still lie outside the crop).
      valid: bool [..., P], the slot holds a person.
      is_synthetic: bool [..., P], the person is a rendered human.
    """

    keypoints: jax.Array
    labelled: jax.Array
    valid: jax.Array
    is_synthetic: jax.Array


def empty_people(max_people: int, num_parts: int) -> People:
    """A numpy record with no people, to be filled on the host."""
    return People(
        keypoints=np.zeros((max_people, num_parts, 2), np.float32),
        labelled=np.zeros((max_people, num_parts), bool),
        valid=np.zeros((max_people,), bool),
        is_synthetic=np.zeros((max_people,), bool),
    )


def check_people(people: People, num_parts: int) -> None:
    """Raises ValueError naming the field whose shape or values are wrong (host-side check)."""
    kp = np.asarray(people.keypoints)
    if kp.ndim < 3 or kp.shape[-2:] != (num_parts, 2):
        raise ValueError(f"people.keypoints must have shape (..., P, {num_parts}, 2), got {kp.shape}")
    lead = kp.shape[:-2]
    for field in ("labelled", "valid", "is_synthetic"):
        value = np.asarray(getattr(people, field))
        want = lead + (num_parts,) if field == "labelled" else lead
        if value.shape != want:
            raise ValueError(f"people.{field} must have shape {want}, got {value.shape}")
    labelled = np.asarray(people.labelled, bool)
    if not np.isfinite(kp[labelled]).all():
        raise ValueError("people.keypoints has NaN or infinite coordinates on labelled joints")
