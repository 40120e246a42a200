"""Multi-scale, flip-averaged OpenPose maps of one image (the CMU MPII test protocol: scales 0.7, 1, 1.3).

Scale s resizes the image so that its height is s * base_size (OpenPose's boxsize 368 * scale; bilinear,
like the training crops), pads it right and bottom to a multiple of the stride with grey (128, i.e. 0
after normalise_images), and runs the network on it and, with flip, on its mirror image. Every output is
resampled (bicubic, a = -0.75) straight onto one common grid of the original image: ceil(H / g) x ceil(W / g)
cells of g pixels, cell k at original pixel k*g + g/2 - 0.5, i.e. what `decode.decode(..., input_size=(H, W),
stride=g)` reads. The grid stride g (`grid_stride`) is the network's stride when no scale enlarges the
image, and finer when one does, so that the grid is never coarser than the network's own cells: CMU's
test code resizes every scale's maps to the original image's pixels (docs/reference.md), and a stride-8
grid of a 128 px image shown to the network at 328 px would throw away 60% of the maps' resolution.
The mirror is undone inside the resampling (exact for any width), together with the channel swap:
left/right heatmaps, and each PAF limb moved to its mirror limb with its x component negated.
The maps are the mean over scales x flips.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ltsh_jax.decode.peaks import cubic_weight
from ltsh_jax.models.openpose import normalise_images
from ltsh_jax.skeleton import Skeleton


class ImageMaps(NamedTuple):
    """An image's averaged maps on its decoding grid: heatmaps [h, w, J+1], PAFs [h, w, 2L], `stride` pixels a cell."""

    heatmaps: jax.Array
    pafs: jax.Array
    stride: int


def flip_paf_permutation(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """(perm [L], signs [L, 2]): PAF limb l of an image = signs[l] * (mirrored) limb perm[l] of its mirror image.

    Limb (a, b) of the image is limb (p[a], p[b]) of the mirror image (p = skeleton.flip_permutation)
    with its x component negated; when the skeleton lists that limb as (p[b], p[a]) its direction is
    reversed as well, which turns the signs into (+1, -1).
    """
    p = skeleton.flip_permutation
    index = {tuple(limb): i for i, limb in enumerate(skeleton.limbs)}
    perm = np.zeros(skeleton.num_limbs, np.int64)
    signs = np.zeros((skeleton.num_limbs, 2), np.float32)
    for limb, (a, b) in enumerate(skeleton.limbs):
        if (p[a], p[b]) in index:
            perm[limb], signs[limb] = index[(p[a], p[b])], (-1.0, 1.0)
        elif (p[b], p[a]) in index:
            perm[limb], signs[limb] = index[(p[b], p[a])], (1.0, -1.0)
        else:
            raise ValueError(f"{skeleton.name}: limb ({a}, {b}) has no mirror limb ({p[a]}, {p[b]})")
    return perm, signs


def unflip_channels(heatmaps: jax.Array, pafs: jax.Array, *, skeleton: Skeleton) -> tuple[jax.Array, jax.Array]:
    """Channel part of undoing a flip on maps [..., J+1] and [..., 2L] (no spatial mirroring)."""
    hperm = np.concatenate([skeleton.flip_permutation, [skeleton.num_parts]])
    perm, signs = flip_paf_permutation(skeleton)
    limbs = pafs.reshape(pafs.shape[:-1] + (skeleton.num_limbs, 2))[..., perm, :] * signs
    return heatmaps[..., hperm], limbs.reshape(pafs.shape)


def resample_matrix(
    out_cells: int,
    in_cells: int,
    scale: float,
    stride: int,
    mirror_size: int | None = None,
    out_stride: int | None = None,
) -> np.ndarray:
    """[out_cells, in_cells] bicubic weights from a scaled image's map grid to the original image's grid.

    Original pixel p is scaled-image pixel q = (p + 0.5) * scale - 0.5 (or mirror_size - 1 - q for a
    mirrored scaled image of that width); the network's cells are at k*stride + stride/2 - 0.5 of the
    scaled image, the output cells at k*out_stride + out_stride/2 - 0.5 of the original (out_stride
    defaults to stride). Indices beyond the input grid are clamped.
    """
    out_stride = stride if out_stride is None else out_stride
    p = np.arange(out_cells) * out_stride + out_stride / 2 - 0.5
    q = (p + 0.5) * scale - 0.5
    if mirror_size is not None:
        q = mirror_size - 1 - q
    u = (q + 0.5) / stride - 0.5
    base = np.floor(u).astype(np.int64)
    matrix = np.zeros((out_cells, in_cells))
    for offset in range(-1, 3):
        idx = np.clip(base + offset, 0, in_cells - 1)
        np.add.at(matrix, (np.arange(out_cells), idx), cubic_weight(u - (base + offset)))
    return matrix.astype(np.float32)


@functools.partial(
    jax.jit,
    static_argnames=(
        "apply_fn", "scaled_size", "padded_size", "out_cells", "flip", "stride", "grid_stride", "pad_value", "skeleton"
    ),
)  # fmt: skip
def _scale_maps(
    apply_fn, params, image, *, scaled_size, padded_size, out_cells, flip, stride, grid_stride, pad_value, skeleton
):
    """Sum over (image, mirror) of one scale's last-stage maps, on the original image's decoding grid."""
    height, width = image.shape[:2]
    x = normalise_images(jax.image.resize(image.astype(jnp.float32), scaled_size + (3,), "linear", antialias=False))
    batch = jnp.stack([x, x[:, ::-1]] if flip else [x])
    pad = ((0, 0), (0, padded_size[0] - scaled_size[0]), (0, padded_size[1] - scaled_size[1]), (0, 0))
    batch = jnp.pad(batch, pad, constant_values=normalise_images(pad_value))
    last = apply_fn(params, batch)[-1]
    fy, fx = scaled_size[0] / height, scaled_size[1] / width
    ry = resample_matrix(out_cells[0], last.heatmaps.shape[1], fy, stride, out_stride=grid_stride)
    rx = resample_matrix(out_cells[1], last.heatmaps.shape[2], fx, stride, out_stride=grid_stride)
    resample = lambda maps, rx: jnp.einsum("Yy,yxc,Xx->YXc", ry, maps, rx)
    heatmaps, pafs = resample(last.heatmaps[0], rx), resample(last.pafs[0], rx)
    if flip:
        rx_mirror = resample_matrix(
            out_cells[1], last.heatmaps.shape[2], fx, stride, mirror_size=scaled_size[1], out_stride=grid_stride
        )
        fh, fp = unflip_channels(
            resample(last.heatmaps[1], rx_mirror), resample(last.pafs[1], rx_mirror), skeleton=skeleton
        )
        heatmaps, pafs = heatmaps + fh, pafs + fp
    return heatmaps, pafs


def scaled_sizes(
    image_size: tuple[int, int], scale: float, *, base_size: int, stride: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((Hs, Ws), (Hp, Wp)): the image resized to height scale * base_size, and padded to a multiple of stride."""
    height, width = image_size
    factor = scale * base_size / height
    scaled = (max(1, round(height * factor)), max(1, round(width * factor)))
    return scaled, tuple(-(-s // stride) * stride for s in scaled)


def grid_stride(image_size: tuple[int, int], scales: Sequence[float], *, base_size: int, stride: int) -> int:
    """Pixels per cell of the decoding grid: the network's stride over the largest enlargement, at most `stride`.

    An image enlarged by f puts the network's cells stride / f original pixels apart; the grid takes the
    largest integer cell no coarser than that (at least 1 pixel), and `stride` when no scale enlarges.
    """
    largest = max(scales) * base_size / image_size[0]
    return int(min(stride, max(1, np.floor(stride / largest + 1e-6))))


def predict_maps(
    apply_fn: Callable[[Any, jax.Array], Sequence[Any]],
    params: Any,
    image: np.ndarray,
    *,
    skeleton: Skeleton,
    scales: Sequence[float] = (0.7, 1.0, 1.3),
    flip: bool = True,
    stride: int = 8,
    base_size: int = 368,
    pad_value: float = 128.0,
) -> ImageMaps:
    """Heatmaps [ceil(H/g), ceil(W/g), J+1] and PAFs [.., 2L] of image uint8 [H, W, 3], averaged; g = `grid_stride`.

    apply_fn(params, images float32 [B, H', W', 3] normalised by normalise_images) returns one
    StageOutput(pafs, heatmaps) per stage ([B, H'/stride, W'/stride, C]); the last stage is used.
    apply_fn is a static argument of a jitted function: pass the same (hashable) object every call.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must have shape [H, W, 3], got {image.shape}")
    if not scales:
        raise ValueError("scales must not be empty")
    grid = grid_stride(image.shape[:2], scales, base_size=base_size, stride=stride)
    out_cells = tuple(-(-s // grid) for s in image.shape[:2])
    total = None
    for scale in scales:
        scaled, padded = scaled_sizes(image.shape[:2], scale, base_size=base_size, stride=stride)
        maps = _scale_maps(
            apply_fn,
            params,
            jnp.asarray(image),
            scaled_size=scaled,
            padded_size=padded,
            out_cells=out_cells,
            flip=flip,
            stride=stride,
            grid_stride=grid,
            pad_value=float(pad_value),
            skeleton=skeleton,
        )
        total = maps if total is None else (total[0] + maps[0], total[1] + maps[1])
    count = len(scales) * (2 if flip else 1)
    return ImageMaps(total[0] / count, total[1] / count, grid)
