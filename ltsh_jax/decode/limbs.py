"""Limb candidates of OpenPose: PAF line integrals over all peak pairs, then greedy one-to-one matching.

Both run on device over every limb type at once: scores are an [L, K, K] tensor (K peaks per part),
and the greedy matching (highest score first, each peak used once per limb type) is computed in
rounds that accept every pair that is the best of both its row and its column, which picks exactly
the pairs the sequential greedy loop picks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _bilinear(pafs: jax.Array, limb: jax.Array, mx: jax.Array, my: jax.Array) -> jax.Array:
    """PAF vectors [..., 2] of limb index `limb` (broadcast) at map coordinates (mx, my), edge-clamped."""
    h, w = pafs.shape[:2]
    mx = jnp.clip(mx, 0.0, w - 1.0)
    my = jnp.clip(my, 0.0, h - 1.0)
    x0, y0 = jnp.floor(mx).astype(jnp.int32), jnp.floor(my).astype(jnp.int32)
    x1, y1 = jnp.minimum(x0 + 1, w - 1), jnp.minimum(y0 + 1, h - 1)
    fx, fy = (mx - x0)[..., None], (my - y0)[..., None]
    top = pafs[y0, x0, limb] * (1 - fx) + pafs[y0, x1, limb] * fx
    bottom = pafs[y1, x0, limb] * (1 - fx) + pafs[y1, x1, limb] * fx
    return top * (1 - fy) + bottom * fy


def limb_scores(
    pafs: jax.Array,
    xy: jax.Array,
    valid: jax.Array,
    limbs: tuple[tuple[int, int], ...],
    *,
    stride: int,
    image_height: float,
    num_samples: int = 10,
    paf_threshold: float = 0.01,
    min_samples_above: int = 8,
    distance_prior: float = 0.5,
) -> jax.Array:
    """Connection scores [L, K, K] of every (peak of part a, peak of part b) per limb (a, b); -inf if rejected.

    The PAF (pafs [h, w, 2L] at map resolution, sampled bilinearly) is read at `num_samples` points
    from a to b (ends included). A pair is kept when at least `min_samples_above` samples have
    PAF . u > paf_threshold and score = mean(PAF . u) + min(distance_prior * H / |b - a| - 1, 0) > 0.
    """
    h, w, channels = pafs.shape
    num_limbs = len(limbs)
    if channels != 2 * num_limbs:
        raise ValueError(f"pafs have {channels} channels, the skeleton has {num_limbs} limbs")
    pafs = jnp.nan_to_num(pafs.astype(jnp.float32)).reshape(h, w, num_limbs, 2)
    a_idx = jnp.asarray([a for a, _ in limbs], jnp.int32)
    b_idx = jnp.asarray([b for _, b in limbs], jnp.int32)
    xy = xy.astype(jnp.float32)
    pa, pb = xy[a_idx][:, :, None, :], xy[b_idx][:, None, :, :]  # [L, K, 1, 2], [L, 1, K, 2]
    delta = pb - pa  # [L, K, K, 2]
    length = jnp.linalg.norm(delta, axis=-1)
    unit = delta / jnp.maximum(length, 1e-6)[..., None]
    frac = jnp.linspace(0.0, 1.0, num_samples, dtype=jnp.float32)
    points = pa[..., None, :] + delta[..., None, :] * frac[:, None]  # [L, K, K, S, 2]
    mapc = (points + 0.5) / stride - 0.5
    limb = jnp.arange(num_limbs)[:, None, None, None]
    vec = _bilinear(pafs, limb, mapc[..., 0], mapc[..., 1])  # [L, K, K, S, 2]
    dots = jnp.einsum("lijsc,lijc->lijs", vec, unit)
    above = (dots > paf_threshold).sum(axis=-1)
    score = dots.mean(axis=-1) + jnp.minimum(distance_prior * image_height / jnp.maximum(length, 1e-6) - 1.0, 0.0)
    ok = valid[a_idx][:, :, None] & valid[b_idx][:, None, :] & (length > 0)
    ok = ok & (above >= min_samples_above) & (score > 0)
    return jnp.where(ok, score, -jnp.inf)


def greedy_match(scores: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One-to-one matching per limb, greedily by descending score: (match [L, K] index into b or -1, score [L, K]).

    Ties are broken as a stable sort of the (a, b) pairs in row-major order would (the reference
    loop's order). Each round accepts every finite pair that is the first maximum of its row and of
    its column; those are exactly the next pairs the sequential loop accepts.
    """
    num_limbs, k, _ = scores.shape
    rows = jnp.arange(k)

    def body(state):
        s, match, _ = state
        row_best = jnp.argmax(s, axis=2)  # [L, K]
        row_max = jnp.max(s, axis=2)
        col_best = jnp.argmax(s, axis=1)  # [L, K]
        pick = jnp.isfinite(row_max) & (jnp.take_along_axis(col_best, row_best, axis=1) == rows[None, :])
        match = jnp.where(pick, row_best, match)
        used_cols = jnp.zeros((num_limbs, k), bool).at[jnp.arange(num_limbs)[:, None], row_best].max(pick)
        s = jnp.where(pick[:, :, None] | used_cols[:, None, :], -jnp.inf, s)
        return s, match, pick.any()

    init = (scores, jnp.full((num_limbs, k), -1, jnp.int32), jnp.array(True))
    _, match, _ = jax.lax.while_loop(lambda st: st[2], body, init)
    matched = jnp.take_along_axis(scores, jnp.maximum(match, 0)[..., None], axis=2)[..., 0]
    return match, jnp.where(match >= 0, matched, 0.0)
