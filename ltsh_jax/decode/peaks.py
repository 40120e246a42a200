"""Part peaks of OpenPose heatmaps: upsampled to input pixels, smoothed, local maxima above a threshold.

The maps are defined as OpenPose computes them: bicubic upsampling by the stride (OpenCV INTER_CUBIC,
Keys a = -0.75, half-pixel centres, so map cell k lies at input pixel k*stride + stride/2 - 0.5), then a
Gaussian blur (sigma 3, scipy's kernel: truncate 4). Beyond the map border the map is extended by edge
replication at map resolution, before both filters (OpenPose clamps in the resize and reflects in the
blur: the two differ only within ~12 px of the border).

Why it is fast: upsample + blur is one separable, stride-periodic linear filter, so each 8x8 block of
input pixels (plus a 1-pixel ring for the 3x3 test) is `K @ patch @ K.T` of a 9x9 patch of the map.
A cheap per-block upper bound on |value| discards the blocks that cannot hold a value above the
threshold; only the rest (at most `max_blocks` per part) are evaluated, and when more survive every
block is. Both paths give the same peaks; nothing is ever held at full resolution.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

CUBIC_A = -0.75  # OpenCV's INTER_CUBIC coefficient
GAUSS_TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default
# Neighbours within this fraction of a pixel's value count as equal to it, so that float rounding noise on a
# flat map makes no peaks; true peaks of maps smoothed at sigma >= 1 px exceed their neighbours by far more.
PLATEAU_RTOL = 1e-5


class Peaks(NamedTuple):
    """Up to K peaks per channel, highest first; padded slots have valid False, xy 0 and score 0.

    xy: int32 [C, K, 2] input pixels (x, y); score: float32 [C, K] smoothed map value; valid: bool [C, K].
    """

    xy: jax.Array
    score: jax.Array
    valid: jax.Array


def cubic_weight(x: np.ndarray, a: float = CUBIC_A) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.75 as OpenCV)."""
    x = np.abs(np.asarray(x, np.float64))
    near = (a + 2) * x**3 - (a + 3) * x**2 + 1
    far = a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def gaussian_taps(sigma: float) -> np.ndarray:
    """Normalised Gaussian taps [2R+1], R = int(4 sigma + 0.5), as scipy.ndimage.gaussian_filter1d."""
    if sigma <= 0:
        return np.ones(1)
    radius = int(GAUSS_TRUNCATE * sigma + 0.5)
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * d**2 / sigma**2)
    return g / g.sum()


@functools.lru_cache(maxsize=32)
def phase_kernels(stride: int, sigma: float) -> tuple[np.ndarray, int]:
    """(K [stride + 2, T], t0): value at input pixel stride*i + r, r = -1..stride, is sum_t K[r+1, t] x[i+t0+t].

    K folds the bicubic upsampling and the Gaussian blur into one stride-periodic filter on the map.
    """
    g = gaussian_taps(sigma)
    radius = (len(g) - 1) // 2
    span = radius // stride + 4
    ts = np.arange(-span, span + 1)
    rows = np.arange(-1, stride + 1)
    d = np.arange(-radius, radius + 1)
    # argument of the cubic kernel for (row r, blur offset d, map offset t)
    arg = (rows[:, None, None] - d[None, :, None] + 0.5) / stride - 0.5 - ts[None, None, :]
    k = np.einsum("d,rdt->rt", g, cubic_weight(arg))
    used = np.nonzero(np.abs(k).max(axis=0) > 0)[0]
    k = k[:, used[0] : used[-1] + 1]
    return k, int(ts[used[0]])


def _block_bound(x_pad: jax.Array, weights: np.ndarray, out_shape: tuple[int, int]) -> jax.Array:
    """Upper bound of |smoothed map| per block: sum_{t,u} w_t w_u |x[i+t, c+u]|, [C, bh, bw]."""
    bh, bw = out_shape
    ax = jnp.abs(x_pad)
    rows = sum(float(w) * ax[:, t : t + bh, :] for t, w in enumerate(weights))
    return sum(float(w) * rows[:, :, t : t + bw] for t, w in enumerate(weights))


def _eval_blocks(
    x_pad: jax.Array,
    bi: jax.Array,
    bc: jax.Array,
    keep: jax.Array,
    input_size: jax.Array,
    *,
    stride: int,
    sigma: float,
    threshold: float,
) -> jax.Array:
    """Peak values [C, s*s*N] (-inf where no peak; phase-major) of blocks (bi, bc) [C, N] of padded maps [C, ...].

    Blocks run along the last (lane) axis, so every step is a wide elementwise op or a small matmul.
    """
    k, _ = phase_kernels(stride, sigma)
    kj = jnp.asarray(k, jnp.float32)
    off = jnp.arange(k.shape[1])[None, :, None]
    rows, cols = bi[:, None, :] + off, bc[:, None, :] + off  # [C, T, N]
    channel = jnp.arange(x_pad.shape[0])[:, None, None, None]
    patch = x_pad[channel, rows[:, :, None, :], cols[:, None, :, :]]  # [C, T, T, N]
    ext = jnp.einsum("rt,ctun->crun", kj, patch)
    ext = jnp.einsum("crun,qu->crqn", ext, kj)  # [C, s+2, s+2, N]: the block and a 1-pixel ring
    ring = jnp.arange(-1, stride + 1)[None, :, None]
    ys, xs = stride * bi[:, None, :] + ring, stride * bc[:, None, :] + ring  # [C, s+2, N]
    inside = ((ys >= 0) & (ys < input_size[0]))[:, :, None, :] & ((xs >= 0) & (xs < input_size[1]))[:, None, :, :]
    low, high = jnp.where(inside, ext, -jnp.inf), jnp.where(inside, ext, jnp.inf)  # outside: never a max, min

    def row3(a, op):  # over the 3 columns around each block column: [C, s+2, s, N]
        return op(op(a[:, :, :-2], a[:, :, 1:-1]), a[:, :, 2:])

    row_max, row_min = row3(low, jnp.maximum), row3(high, jnp.minimum)
    centre = low[:, 1:-1, 1:-1]
    earlier = jnp.maximum(row_max[:, :-2], low[:, 1:-1, :-2])  # up-left, up, up-right, left
    later = jnp.maximum(row_max[:, 2:], low[:, 1:-1, 2:])
    lowest = jnp.minimum(
        jnp.minimum(row_min[:, :-2], row_min[:, 2:]), jnp.minimum(high[:, 1:-1, :-2], high[:, 1:-1, 2:])
    )  # lowest neighbour in the input
    tol = PLATEAU_RTOL * jnp.abs(centre)
    # values within tol are equal: a plateau yields one peak (its first pixel in raster order), a flat map none
    ok = (centre > threshold) & keep[:, None, None, :] & (centre > earlier + tol) & (centre >= later - tol)
    ok = ok & (centre > lowest + tol)
    return jnp.where(ok, centre, -jnp.inf).reshape(x_pad.shape[0], -1)


def _top_peaks(cand: jax.Array, bi: jax.Array, bc: jax.Array, stride: int, max_peaks: int) -> Peaks:
    """Per-channel top-k of candidate values [C, s*s*N] of blocks (bi, bc) [C, N], padded to max_peaks."""
    num_blocks = bi.shape[-1]
    k = min(max_peaks, cand.shape[-1])
    values, idx = jax.lax.top_k(cand, k)
    phase, block = idx // num_blocks, idx % num_blocks
    y = stride * jnp.take_along_axis(bi, block, axis=-1) + phase // stride
    x = stride * jnp.take_along_axis(bc, block, axis=-1) + phase % stride
    valid = jnp.isfinite(values)
    xy = jnp.where(valid[..., None], jnp.stack([x, y], axis=-1), 0).astype(jnp.int32)
    score = jnp.where(valid, values, 0.0)
    pad = max_peaks - k
    return Peaks(
        jnp.pad(xy, ((0, 0), (0, pad), (0, 0))), jnp.pad(score, ((0, 0), (0, pad))), jnp.pad(valid, ((0, 0), (0, pad)))
    )


def bucket(count: int, low: int, high: int, *, fine: bool = False) -> int:
    """The power of two (fine: or 1.5 x a power of two) >= count, clipped to [low, high]: few static sizes."""
    size = 1 << max(0, int(count) - 1).bit_length()
    if fine and size >= 4 and 3 * size // 4 >= count:
        size = 3 * size // 4
    return min(high, max(low, size))


@functools.partial(jax.jit, static_argnames=("stride", "sigma", "threshold", "channels"))
def _prepare(
    maps: jax.Array, input_size: jax.Array, *, stride: int, sigma: float, threshold: float, channels: int | None = None
):
    """Padded maps [C, h+, w+] (the first `channels`), the block bound [C, h, w], and the most blocks of a channel
    that may hold a peak."""
    maps = jnp.nan_to_num(jnp.moveaxis(jnp.asarray(maps, jnp.float32)[..., :channels], -1, 0))
    _, bh, bw = maps.shape
    k, t0 = phase_kernels(stride, sigma)
    lo, hi = -t0, max(0, k.shape[1] - 1 + t0)
    x_pad = jnp.pad(maps, ((0, 0), (lo, hi), (lo, hi)), mode="edge")
    bound = _block_bound(x_pad, np.abs(k[1:-1]).max(axis=0), (bh, bw))
    inside = (jnp.arange(bh) * stride < input_size[0])[:, None] & (jnp.arange(bw) * stride < input_size[1])[None, :]
    bound = jnp.where(inside, bound, -jnp.inf)  # blocks outside the input hold no peak
    return x_pad, bound, (bound > threshold).sum(axis=(1, 2)).max()


@functools.partial(jax.jit, static_argnames=("stride", "sigma", "threshold", "max_peaks", "num_blocks"))
def _block_peaks(x_pad, bound, input_size, *, stride, sigma, threshold, max_peaks, num_blocks):
    """Peaks from the `num_blocks` blocks of highest bound per channel, or from all blocks if num_blocks is None."""
    num_channels, bh, bw = bound.shape
    evaluate = functools.partial(_eval_blocks, input_size=input_size, stride=stride, sigma=sigma, threshold=threshold)

    def peaks_of(x, bi, bc, keep):
        return _top_peaks(evaluate(x, bi, bc, keep), bi, bc, stride, max_peaks)

    if num_blocks is None:  # every block, one channel at a time (bounded memory)
        bi, bc = (a.reshape(1, -1) for a in jnp.meshgrid(jnp.arange(bh), jnp.arange(bw), indexing="ij"))
        one = lambda xs: jax.tree.map(lambda a: a[0], peaks_of(xs[0][None], bi, bc, xs[1].reshape(1, -1) > threshold))
        peaks = jax.lax.map(one, (x_pad, bound))
    else:
        vals, idx = jax.lax.top_k(bound.reshape(num_channels, -1), num_blocks)
        peaks = peaks_of(x_pad, idx // bw, idx % bw, vals > threshold)
    return peaks, peaks.valid.sum(axis=1).max()


def find_peaks_and_count(
    maps: jax.Array,
    input_size: tuple[int, int] | jax.Array,
    *,
    stride: int,
    sigma: float,
    threshold: float,
    max_peaks: int,
    max_blocks: int,
    channels: int | None = None,
) -> tuple[Peaks, int]:
    """(Peaks of the first `channels` maps [h, w, C] in an input of `input_size`, the largest number of peaks
    of a channel, read on the host). Map cell k lies at input pixel k*stride + stride/2 - 0.5.

    A peak is an input pixel whose upsampled, smoothed value exceeds `threshold` and is a maximum of
    its 3x3 neighbourhood (pixels outside the input count as -inf; values within PLATEAU_RTOL count as
    equal: of a plateau only the first pixel in raster order counts, and a pixel that exceeds none of its
    neighbours in the input is none, so flat maps have none). The `max_peaks` highest per channel are
    kept. stride=1, sigma=0 finds the local maxima of `maps` themselves. Only pixels below
    (h*stride, w*stride) are searched.

    Two jitted steps: the block bounds (and how many blocks may hold a peak, read on the host), then
    the peaks from that many blocks per channel (a power of two, so few compilations) or, beyond
    `max_blocks`, from all blocks. Both give the same peaks.
    """
    input_size = jnp.asarray(input_size, jnp.int32)
    x_pad, bound, needed = _prepare(
        maps, input_size, stride=stride, sigma=sigma, threshold=threshold, channels=channels
    )
    needed = int(needed)
    num_blocks = bucket(needed, 64, max_blocks, fine=True)
    if needed > max_blocks or num_blocks >= bound.shape[1] * bound.shape[2] // 2:
        num_blocks = None
    peaks, count = _block_peaks(
        x_pad,
        bound,
        input_size,
        stride=stride,
        sigma=sigma,
        threshold=threshold,
        max_peaks=max_peaks,
        num_blocks=num_blocks,
    )
    return peaks, int(count)
