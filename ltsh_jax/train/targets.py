"""Keypoints -> OpenPose training targets: part heatmaps, part affinity fields and loss masks.

Pure jnp, built per crop and vmapped over the batch, so it runs inside the jitted train step.
Two defects of the CMU reference code are fixed here (docs/reference.md): Gaussians of several
people are combined by max (not sum-and-clip), and overlapping PAFs are averaged over the people
that cover a cell.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from ltsh_jax import part_fields
from ltsh_jax.people import People
from ltsh_jax.skeleton import Skeleton


@flax.struct.dataclass
class Targets:
    """Per-pixel targets and loss masks of a batch of crops.

    Attributes:
      heatmaps: float32 [B, h, w, J+1], J part Gaussians then the background channel.
      pafs: float32 [B, h, w, 2L], limb l in channels 2l (x) and 2l+1 (y).
      heatmap_mask: float32 [B, h, w, J+1], 1 where the cell/channel counts in the loss, 0 where masked.
      paf_mask: float32 [B, h, w, 2L], the same for the PAFs.
    """

    heatmaps: jax.Array
    pafs: jax.Array
    heatmap_mask: jax.Array
    paf_mask: jax.Array


def map_size(input_size: tuple[int, int], stride: int) -> tuple[int, int]:
    """(height, width) of the network output for an input crop of `input_size` = (height, width)."""
    return input_size[0] // stride, input_size[1] // stride


def _sanitise(people: People) -> tuple[jax.Array, jax.Array]:
    """Keypoints with every joint that must not count zeroed, and the flags of those that count.

    A joint counts when its slot is valid, it is labelled and its coordinates are finite; the
    others are replaced by 0 so that NaN or garbage can never reach the maps.
    """
    keypoints = jnp.asarray(people.keypoints, jnp.float32)
    ok = jnp.asarray(people.labelled, bool) & jnp.asarray(people.valid, bool)[..., None]
    ok = ok & jnp.isfinite(keypoints).all(axis=-1)
    return jnp.where(ok[..., None], keypoints, 0.0), ok


def _interleave(per_limb_xy: jax.Array) -> jax.Array:
    """[L, h, w, 2] -> [h, w, 2L] with limb l in channels 2l (x) and 2l + 1 (y)."""
    num_limbs, h, w, _ = per_limb_xy.shape
    return per_limb_xy.transpose(1, 2, 0, 3).reshape(h, w, 2 * num_limbs)


def _crop_targets(
    people: People,
    keep: jax.Array,
    *,
    limbs: jax.Array,
    shape: tuple[int, int],
    stride: int,
    sigma: float,
    paf_width: float,
    mask_synthetic: bool,
    synthetic_threshold: float,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Targets of one crop (people [P, ...], keep [h, w] = 1 outside ignored regions)."""
    ys, xs = part_fields.cell_centres(shape, stride, jnp)
    keypoints, ok = _sanitise(people)
    gauss = part_fields.gaussians(keypoints, ok, ys, xs, sigma, jnp)  # [P, J, h, w]
    parts = gauss.max(axis=0, initial=0.0).transpose(1, 2, 0)  # [h, w, J]
    background = 1.0 - parts.max(axis=-1, keepdims=True, initial=0.0)
    heatmaps = jnp.concatenate([parts, background], axis=-1)

    area, unit = part_fields.limb_areas(keypoints, ok, limbs, ys, xs, stride, paf_width, jnp)
    area_f = area.astype(jnp.float32)
    summed = jnp.einsum("plhw,plc->lhwc", area_f, unit)
    count = area_f.sum(axis=0)[..., None]  # [L, h, w, 1]
    pafs = _interleave(summed / jnp.maximum(count, 1.0))

    heatmap_mask = jnp.broadcast_to(keep[..., None], heatmaps.shape)
    paf_mask = jnp.broadcast_to(keep[..., None], pafs.shape)
    if mask_synthetic:
        synthetic = jnp.asarray(people.valid, bool) & jnp.asarray(people.is_synthetic, bool)  # [P]
        covered = (gauss > synthetic_threshold) & synthetic[:, None, None, None]  # [P, J, h, w]
        part_hit = covered.any(axis=0).transpose(1, 2, 0)  # [h, w, J]
        hit = jnp.concatenate([part_hit, part_hit.any(axis=-1, keepdims=True)], axis=-1)
        heatmap_mask = jnp.where(hit, 0.0, heatmap_mask)
        limb_hit = (area & synthetic[:, None, None, None]).any(axis=0)  # [L, h, w]
        paf_mask = jnp.where(_interleave(jnp.stack([limb_hit, limb_hit], axis=-1)), 0.0, paf_mask)
    return heatmaps, pafs, heatmap_mask, paf_mask


def build_targets(
    people: People,
    ignore_mask: jax.Array | None,
    *,
    skeleton: Skeleton,
    input_size: tuple[int, int],
    stride: int = 8,
    sigma: float = 7.0,
    paf_width: float = 1.0,
    mask_synthetic: bool = False,
    synthetic_threshold: float = 0.25,
) -> Targets:
    """Heatmaps, PAFs and loss masks of a batch of crops (people [B, P, ...] in input pixels).

    Args:
      people: batched `People`; invalid slots and unlabelled (or non-finite) joints count for nothing.
      ignore_mask: [B, h, w], true/1 on regions of unannotated people (masked out of every channel),
        or None.
      skeleton: the part and limb layout.
      input_size: (height, width) of the crop in input pixels; maps are `map_size(input_size, stride)`.
      stride: input pixels per map cell.
      sigma: Gaussian standard deviation, in input pixels.
      paf_width: half-width of a limb's PAF area, in map cells.
      mask_synthetic: also mask out the support of synthetic people (the paper's "+masks").
      synthetic_threshold: a synthetic person's Gaussian above this is masked on its channel and
        on the background.
    """
    batch, _, num_parts, _ = jnp.shape(people.keypoints)
    if num_parts != skeleton.num_parts:
        raise ValueError(f"people have {num_parts} parts, skeleton {skeleton.name} has {skeleton.num_parts}")
    shape = map_size(input_size, stride)
    if ignore_mask is None:
        keep = jnp.ones((batch,) + shape, jnp.float32)
    else:
        if jnp.shape(ignore_mask) != (batch,) + shape:
            raise ValueError(f"ignore_mask must have shape {(batch,) + shape}, got {jnp.shape(ignore_mask)}")
        keep = 1.0 - jnp.asarray(ignore_mask).astype(jnp.float32)
    limbs = jnp.asarray(skeleton.limbs, jnp.int32).reshape(-1, 2)

    def one(crop: People, crop_keep: jax.Array) -> tuple[jax.Array, ...]:
        return _crop_targets(
            crop,
            crop_keep,
            limbs=limbs,
            shape=shape,
            stride=stride,
            sigma=sigma,
            paf_width=paf_width,
            mask_synthetic=mask_synthetic,
            synthetic_threshold=synthetic_threshold,
        )

    heatmaps, pafs, heatmap_mask, paf_mask = jax.vmap(one)(people, keep)
    return Targets(heatmaps=heatmaps, pafs=pafs, heatmap_mask=heatmap_mask, paf_mask=paf_mask)
