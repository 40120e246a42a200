"""Part Gaussians and limb areas of people on a map grid, for numpy or jax.numpy (`xp`).

One copy of the geometry two places need: the targets built on device (train/targets.py, xp=jnp)
and, on the host, the support of the people a crop's padded record has no slot for, which goes
into that crop's ignore mask (data/crops.py, xp=np). Coordinates are input pixels; map cell k's
centre is input pixel k * stride + stride / 2 - 0.5, as the CMU code places them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

# Limbs shorter than this (in map cells) have no direction: they contribute nothing.
MIN_LIMB_LENGTH = 1e-3

Array = Any  # a numpy or jax array


def cell_centres(shape: tuple[int, int], stride: int, xp: ModuleType = np) -> tuple[Array, Array]:
    """Input-pixel centres of the map cells: ys [h, 1], xs [1, w]."""
    offset = stride / 2 - 0.5
    ys = xp.arange(shape[0], dtype=xp.float32) * stride + offset
    xs = xp.arange(shape[1], dtype=xp.float32) * stride + offset
    return ys[:, None], xs[None, :]


def gaussians(keypoints: Array, ok: Array, ys: Array, xs: Array, sigma: float, xp: ModuleType = np) -> Array:
    """Per-person, per-part Gaussians [P, J, h, w] of keypoints [P, J, 2]; zero where ok [P, J] is false."""
    dy2 = (ys[None, None] - keypoints[..., 1, None, None]) ** 2
    dx2 = (xs[None, None] - keypoints[..., 0, None, None]) ** 2
    return xp.exp(-(dx2 + dy2) / (2.0 * sigma**2)) * ok[..., None, None]


def limb_areas(
    keypoints: Array, ok: Array, limbs: Array, ys: Array, xs: Array, stride: int, width: float, xp: ModuleType = np
) -> tuple[Array, Array]:
    """Per-person limb areas [P, L, h, w] (bool) and unit directions [P, L, 2], in map units.

    A cell is in the area when its centre projects onto the segment a -> b and lies within `width`
    cells of it; limbs ([L, 2] part pairs) with an unlabelled end or no length have an empty area.
    """
    start = keypoints[:, limbs[:, 0]] / stride  # [P, L, 2]
    end = keypoints[:, limbs[:, 1]] / stride
    delta = end - start
    length = xp.linalg.norm(delta, axis=-1)  # [P, L]
    usable = ok[:, limbs[:, 0]] & ok[:, limbs[:, 1]] & (length > MIN_LIMB_LENGTH)
    unit = xp.where(usable[..., None], delta / xp.where(usable, length, 1.0)[..., None], 0.0)
    vx = xs[None, None] / stride - start[..., 0, None, None]  # [P, L, 1, w]
    vy = ys[None, None] / stride - start[..., 1, None, None]  # [P, L, h, 1]
    ux, uy = unit[..., 0, None, None], unit[..., 1, None, None]
    along = vx * ux + vy * uy
    across = xp.abs(vx * uy - vy * ux)
    area = (along >= 0) & (along <= length[..., None, None]) & (across <= width) & usable[..., None, None]
    return area, unit


def support(
    keypoints: np.ndarray,
    labelled: np.ndarray,
    limbs: np.ndarray,
    shape: tuple[int, int],
    *,
    stride: int,
    sigma: float,
    paf_width: float,
    radius: float = 3.0,
) -> np.ndarray:
    """bool [h, w]: the cells where people (keypoints [P, J, 2], labelled [P, J]) have targets (host side).

    A cell counts when a labelled joint's Gaussian there is at least exp(-radius^2 / 2) (its centre
    within `radius` sigmas of the joint: 0.011 for the default 3) or it lies in one of their limb areas.
    """
    keypoints = np.asarray(keypoints, np.float32)
    ok = np.asarray(labelled, bool) & np.isfinite(keypoints).all(axis=-1)
    keypoints = np.where(ok[..., None], keypoints, np.float32(0.0))
    ys, xs = cell_centres(shape, stride)
    near = gaussians(keypoints, ok, ys, xs, sigma) >= np.exp(-(radius**2) / 2.0)
    area, _ = limb_areas(keypoints, ok, np.asarray(limbs, np.int64).reshape(-1, 2), ys, xs, stride, paf_width)
    return near.any(axis=(0, 1)) | area.any(axis=(0, 1))
